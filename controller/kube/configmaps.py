"""The configuration as a ConfigMap: read it at start, follow it for hot reload.

An informer narrowed to the one ConfigMap by a field selector sees each edit as it
is stored, and hands the text to the reloader; a rejected text gets a Warning
Event on the ConfigMap itself, where ``kubectl describe`` shows why the edit did
not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from controller.config import SettingsError
from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeError
from controller.kube.resources import EventRecorder
from controller.kube.watching import Informer
from controller.reload import CONFIG_KEY, ConfigReloader
from controller.tasks import Spawn, cancel_and_wait, spawn_task

log = logging.getLogger(__name__)


def parse_reference(reference: str) -> tuple[str, str]:
    """``namespace/name`` → (namespace, name); SettingsError naming the bad value."""
    namespace, _, name = reference.partition("/")
    if not namespace or not name or "/" in name:
        raise SettingsError(f"--configmap: expected NAMESPACE/NAME, got {reference!r}")
    return namespace, name


def config_text(configmap: JSON) -> str:
    """The AutoscalerConfig document in a ConfigMap; KeyError when the key is missing."""
    data = configmap.get("data") or {}
    if CONFIG_KEY not in data:
        name = configmap.get("metadata", {}).get("name")
        raise KeyError(f"ConfigMap {name} has no key {CONFIG_KEY!r}")
    return str(data[CONFIG_KEY])


async def read_configmap(client: KubeClient, namespace: str, name: str) -> str:
    """The configuration text stored in namespace/name."""
    configmap = await client.request("GET", api_path("v1", "configmaps", namespace=namespace,
                                                     name=name))
    return config_text(configmap)


class ConfigMapWatcher:
    """Offers every stored edit of one ConfigMap to the reloader."""

    def __init__(self, client: KubeClient, *, namespace: str, name: str,
                 reloader: ConfigReloader, events: EventRecorder,
                 spawn: Spawn = spawn_task) -> None:
        self.reloader = reloader
        self.events = events
        self.informer = Informer(client, api_version="v1", plural="configmaps",
                                 namespace=namespace, field_selector=f"metadata.name={name}",
                                 spawn=spawn)
        self._spawn = spawn
        self._changes = self.informer.subscribe()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.informer.start()
        self._task = self._spawn(self._run(), name="config-map")

    async def close(self) -> None:
        """Stop following; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.informer.close()

    async def _run(self) -> None:
        while True:
            change = await self._changes.get()
            if change.type == "DELETED":
                log.warning("ConfigMap %s deleted; the running configuration stays", change.key)
                continue
            configmap = change.object

            async def complain(message: str, configmap: JSON = configmap) -> None:
                with contextlib.suppress(KubeError):
                    await self.events.record(configmap, "InvalidConfig", message, warning=True)

            try:
                text = config_text(configmap)
            except KeyError as error:
                await complain(str(error))
                continue
            await self.reloader.offer(text, origin=f"ConfigMap {change.key}", complain=complain)
