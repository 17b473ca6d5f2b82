"""Scale-down: empty a node through the Eviction API, respecting PodDisruptionBudgets.

Eviction, not deletion, because only eviction consults PDBs: the API server
answers 429 while a budget has no disruption to spare, and the drain retries with
backoff until the pool's drainTimeout. Then it gives up cleanly: the node is
uncordoned, so it goes on serving, and an Event on the Node says why.

Before touching anything, the node is checked (``refusal``) by the rules the
scale-down simulation applies too (``controller/planning/disruption.py``, their one
owner): a pod without a controller would not come back, local storage (emptyDir
unless allowed, hostPath) would lose its data, and ``safe-to-evict: "false"`` or
``do-not-disrupt`` on a pod or ``scale-down-disabled`` on the node are a person's
explicit no. DaemonSet and mirror pods are skipped: they belong to the node and go
away with it. Budgets are left to the Eviction API here.

The server's Eviction version is discovered once: ``policy/v1`` where served,
``policy/v1beta1`` otherwise (Kubernetes before 1.22).

No pod is evicted twice. A pod already terminating (an earlier drain's eviction, before
a restart) is waited for, not evicted again. An API server that does not answer is
waited out until the drain's deadline; an eviction whose answer was lost may have
been carried out, so the pod is read before any new eviction is sent, and one that is
terminating or gone counts as evicted. Each eviction first asks whether this replica
still leads (``controller.leadership``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.discovery import policy_version
from controller.kube.errors import (
    DrainRefused,
    KubeError,
    KubeNotFound,
    KubeTimeout,
    KubeTooManyRequests,
)
from controller.kube.nodes import get_node, set_cordoned
from controller.kube.resources import EventRecorder
from controller.kube.scheduling import parse_pod
from controller.leadership import StillLeading, always_leading, ensure_leading
from controller.planning.disruption import (
    MIRROR,
    SAFE_TO_EVICT,
    SCALE_DOWN_DISABLED,
    drain_refusal,
    goes_with_node,
)
from faults import Backoff

__all__ = ["MIRROR", "SAFE_TO_EVICT", "SCALE_DOWN_DISABLED", "DrainSettings", "Drainer",
           "refusal"]


@dataclass(frozen=True)
class DrainSettings:
    timeout: float = 300.0
    """Seconds for the whole drain (the pool's scaleDown.drainTimeout)."""
    allow_empty_dir: bool = False
    """emptyDir data dies with the pod; a pool may declare it scratch space."""
    retry_initial: float = 0.5
    retry_max: float = 5.0
    """Backoff between evictions refused by a PDB (seconds)."""
    poll: float = 0.25
    """Seconds between checks that evicted pods are gone."""


def refusal(node: JSON, pods: Sequence[JSON], *, allow_empty_dir: bool) -> str | None:
    """Why the node must not be drained, or None (pure: node and its pods as JSON)."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return drain_refusal(annotations, [parse_pod(pod) for pod in pods],
                         allow_empty_dir=allow_empty_dir)


class Drainer:
    """Cordons, evicts and waits; uncordons and raises KubeTimeout if time runs out."""

    def __init__(self, client: KubeClient, *, events: EventRecorder,
                 still_leading: StillLeading = always_leading) -> None:
        self.client = client
        self.events = events
        self.still_leading = still_leading
        """Asked right before every eviction (``controller.leadership``)."""
        self._eviction_version: str | None = None

    async def pods_on(self, node: str) -> list[JSON]:
        listing = await self.client.request(
            "GET", api_path("v1", "pods"), query={"fieldSelector": f"spec.nodeName={node}"})
        return list(listing.get("items", []))

    async def check(self, node: str, settings: DrainSettings) -> list[JSON]:
        """The pods to evict; raise DrainRefused if the node must not be drained."""
        pods = await self.pods_on(node)
        reason = refusal(await get_node(self.client, node), pods,
                         allow_empty_dir=settings.allow_empty_dir)
        if reason is not None:
            raise DrainRefused(f"cannot drain {node}: {reason}", reason="DrainRefused")
        return [pod for pod in pods if not goes_with_node(parse_pod(pod))]

    async def drain(self, node: str, settings: DrainSettings) -> int:
        """Empty node; return how many pods were evicted."""
        deadline = time.monotonic() + settings.timeout
        pods = await self.check(node, settings)
        await set_cordoned(self.client, node, True)
        await self.events.record_node(node, "DrainStarted", f"evicting {len(pods)} pods")
        try:
            await asyncio.gather(*(
                self._wait_gone(pod["metadata"], deadline, settings.poll) if _terminating(pod)
                else self._evict(pod, deadline, settings) for pod in pods))
        except KubeTimeout as error:
            await set_cordoned(self.client, node, False)
            await self.events.record_node(node, "DrainTimeout", f"{error}; uncordoned",
                                          warning=True)
            raise
        await self.events.record_node(node, "Drained", f"evicted {len(pods)} pods")
        return len(pods)

    async def _evict(self, pod: JSON, deadline: float, settings: DrainSettings) -> None:
        meta = pod["metadata"]
        what = f"eviction of {meta['namespace']}/{meta['name']}"
        backoff = Backoff(base_s=settings.retry_initial, cap_s=settings.retry_max)
        unanswered = False
        """An eviction went out and its answer was lost: it may have been carried out."""
        while True:
            try:
                if unanswered and await self._evicted(meta):
                    break
                await self._post_eviction(meta["namespace"], meta["name"])
                break
            except KubeNotFound:
                return
            except KubeTooManyRequests as error:
                await _pause(backoff, deadline, f"{what} still refused: {error}", error)
            except KubeError as error:
                if not error.retriable:
                    raise
                unanswered = True
                await _pause(backoff, deadline, f"{what}: no answer: {error}", error)
        await self._wait_gone(meta, deadline, settings.poll)

    async def _evicted(self, meta: JSON) -> bool:
        """Whether the pod is already terminating or gone (an eviction went through)."""
        path = api_path("v1", "pods", namespace=meta["namespace"], name=meta["name"])
        try:
            current = await self.client.request("GET", path)
        except KubeNotFound:
            return True
        return current["metadata"].get("uid") != meta.get("uid") or _terminating(current)

    async def _post_eviction(self, namespace: str, name: str) -> None:
        version = await self.eviction_version()
        ensure_leading(self.still_leading, f"the eviction of {namespace}/{name}")
        body = {"apiVersion": version, "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace}}
        path = api_path("v1", "pods", namespace=namespace, name=name, subresource="eviction")
        await self.client.request("POST", path, body=body)

    async def eviction_version(self) -> str:
        """``policy/v1`` if the server serves it, else ``policy/v1beta1``."""
        if self._eviction_version is None:
            self._eviction_version = await policy_version(self.client)
        return self._eviction_version

    async def _wait_gone(self, meta: JSON, deadline: float, poll: float) -> None:
        path = api_path("v1", "pods", namespace=meta["namespace"], name=meta["name"])
        while time.monotonic() < deadline:
            try:
                current = await self.client.request("GET", path)
            except KubeNotFound:
                return
            except KubeError as error:
                if not error.retriable:
                    raise
                current = {"metadata": meta}  # unanswered: still there as far as known
            if current["metadata"].get("uid") != meta.get("uid"):
                return
            await asyncio.sleep(poll)
        raise KubeTimeout(f"evicted pod {meta['namespace']}/{meta['name']} still terminating",
                          reason="DrainTimeout")


def _terminating(pod: JSON) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


async def _pause(backoff: Backoff, deadline: float, why: str, error: KubeError) -> None:
    """Sleep the next backoff delay, or raise KubeTimeout if it would pass the deadline."""
    delay = backoff.next_delay()
    if time.monotonic() + delay > deadline:
        raise KubeTimeout(why, reason="DrainTimeout") from error
    await asyncio.sleep(delay)
