"""Informers: a cached, resumable list-and-watch of one resource.

The controller reacts to changes instead of scanning: an Informer lists once, then
watches from the list's resourceVersion, keeps every object in a cache, and hands
each change to the registered handlers and queues. A watch that ends normally
resumes from the last resourceVersion seen (bookmarks included); one that fails
with 410 Gone relists and reports the difference as changes, so no deletion is
missed; any other retriable failure (5xx, the server unreachable) backs off
exponentially and resumes. A failure no retry can fix (``retriable`` False: 401/403,
the credentials lack a permission) ends the watch task with that error, so the
process stops with a clear message instead of warning forever while its cache
silently ages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeError, KubeGone, error_for_status
from controller.tasks import Spawn, cancel_and_wait, spawn_task
from faults import Backoff

log = logging.getLogger(__name__)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Handler = Callable[["Change"], None]

@dataclass(frozen=True)
class Change:
    """One object changed: its new state (last state for DELETED) and its previous one."""

    type: ChangeType
    object: JSON
    old: JSON | None

    @property
    def key(self) -> str:
        return object_key(self.object)

def object_key(obj: JSON) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])

class Informer:
    """Cache of one resource kept current by list + watch; start() returns once listed."""

    def __init__(
        self, client: KubeClient, *, api_version: str, plural: str,
        namespace: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, backoff: Backoff | None = None,
        watch_timeout: int = 300, spawn: Spawn = spawn_task,
    ) -> None:
        self.client = client
        self.path = api_path(api_version, plural, namespace=namespace)
        self.selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        self.backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        """Between failed watches: 0.5 s, doubling up to 30 s."""
        self.watch_timeout = watch_timeout
        self.cache: dict[str, JSON] = {}
        self.resource_version = ""
        self.relists = 0
        """How many times the informer listed (1 after start, +1 per 410 Gone)."""
        self._handlers: list[Handler] = []
        self._queues: list[asyncio.Queue[Change]] = []
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    def on_change(self, handler: Handler) -> None:
        """Call handler(change) for every change, in order; it must not block."""
        self._handlers.append(handler)

    def subscribe(self) -> asyncio.Queue[Change]:
        """A queue that receives every later change."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._queues.append(queue)
        return queue

    async def start(self) -> None:
        """List (changes for every object are published) then watch in the background."""
        await self._relist()
        self._task = self._spawn(self._run(), name=f"informer {self.path}")

    async def resume(self) -> None:
        """Watch again from the last resourceVersion after close(), without listing first:
        what a watch does after an outage (a 410 then makes it relist)."""
        if self._task is None:
            self._task = self._spawn(self._run(), name=f"informer {self.path}")

    async def close(self) -> None:
        """Stop watching, keeping the cache and resourceVersion; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None

    # --- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        self.backoff.reset()
        relist = False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                await self._watch()
                self.backoff.reset()
            except KubeGone as error:
                log.info("watch %s: %s; relisting", self.path, error)
                relist = True
            except KubeError as error:
                if not error.retriable:
                    log.error("watch %s failed and cannot recover: %s", self.path, error)
                    raise
                delay = self.backoff.next_delay()
                log.warning("watch %s failed (%s); retrying in %.1fs", self.path, error, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> None:
        listing = await self.client.request(
            "GET", self.path, query={**self.selectors}, seconds=60.0)
        fresh = {object_key(item): item for item in listing.get("items", [])}
        for key in list(self.cache):
            if key not in fresh:
                self._publish("DELETED", self.cache[key])
        for key, item in fresh.items():
            old = self.cache.get(key)
            if old is None or _version(old) != _version(item):
                self._publish("ADDED" if old is None else "MODIFIED", item)
        self.resource_version = listing["metadata"]["resourceVersion"]
        self.relists += 1

    async def _watch(self) -> None:
        query = {**self.selectors, "resourceVersion": self.resource_version,
                 "allowWatchBookmarks": True, "timeoutSeconds": self.watch_timeout}
        async for event in self.client.stream(self.path, query=query,
                                              idle_timeout=self.watch_timeout + 30):
            kind, obj = event.get("type"), event.get("object", {})
            if kind == "ERROR":
                raise _watch_error(obj)
            self.resource_version = obj.get("metadata", {}).get(
                "resourceVersion", self.resource_version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._publish(kind, obj)

    def _publish(self, kind: ChangeType, obj: JSON) -> None:
        key = object_key(obj)
        old = self.cache.pop(key, None) if kind == "DELETED" else self.cache.get(key)
        if kind != "DELETED":
            self.cache[key] = obj
        change = Change(kind, obj, old)
        for handler in self._handlers:
            try:
                handler(change)
            except Exception:
                log.exception("handler of %s failed on %s", self.path, change.key)
        for queue in self._queues:
            queue.put_nowait(change)

def _version(obj: JSON) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion", ""))


def _watch_error(status: JSON) -> KubeError:
    code = int(status.get("code", 0) or 0)
    return error_for_status(code or 500, f"watch error: {status.get('message', status)}",
                            str(status.get("reason", "")))
