"""BareMetalNode objects as an inventory: machines declared with ``kubectl apply``.

An informer follows every BareMetalNode; the ones marked ``spec.source:
configuration`` are the controller's own mirrors of the document's machines and
are skipped. Each declaration is checked (``controller.config.declared_machine``)
and offered to the reloader, which puts it in force with the document or refuses
it (a machine also in the document, a pool the document lacks). A refusal is said
where the person who applied the object looks: a Warning Event on it and its
``status.lastError``; the previous valid spec of that machine, if any, stays.

An accepted object gets the finalizer ``bamel.io/release``, so that its deletion
waits for the controller: it withdraws the machine (no more power calls, its power
left as it is) or, with ``spec.onDelete: power-off``, drains and powers it off
first, then removes the finalizer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from controller.config import SOURCE_CONFIGURATION, ConfigError, MachineSpec, declared_machine
from controller.config.loading import Drivers
from controller.kube.client import JSON, KubeClient
from controller.kube.errors import KubeError, KubeNotFound
from controller.kube.resources import GROUP_VERSION, BareMetalNodes, EventRecorder
from controller.kube.watching import Change, Informer
from controller.reload import ConfigReloader
from controller.tasks import Spawn, cancel_and_wait, spawn_task

log = logging.getLogger(__name__)

FINALIZER = "bamel.io/release"
"""Held on an accepted declaration until the controller has let its machine go."""
POWER_OFF_ON_DELETE = "power-off"
"""``spec.onDelete`` that drains and powers the machine off before letting it go; the
default, ``leave``, leaves its power as it is."""

Release = Callable[[str, str], Awaitable[None]]
"""Drain and power off a machine by name, for a reason (the actuator's power-off)."""
Accepted = Callable[[str], None]


class DeclaredMachines:
    """Follows BareMetalNode objects; offers each declared machine to the reloader."""

    def __init__(self, client: KubeClient, *, reloader: ConfigReloader,
                 events: EventRecorder, drivers: Drivers, power_off: Release,
                 accepted: Accepted, spawn: Spawn = spawn_task) -> None:
        self.objects = BareMetalNodes(client)
        self.reloader = reloader
        self.events = events
        self.drivers = drivers
        self._power_off = power_off
        self._accepted = accepted
        self._spawn = spawn
        self.informer = Informer(client, api_version=GROUP_VERSION, plural="baremetalnodes",
                                 spawn=spawn)
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue()
        """Changes to handle in order; None: the document changed, retry the refused."""
        self.refused: dict[str, JSON] = {}
        """Declarations refused, by name: a new document may make them valid."""
        self._seen: dict[str, int] = {}
        """metadata.generation last handled per object: a status write (ours) does not
        change it and is not a new declaration."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """List, handle every declaration found, then follow changes."""
        await self.informer.start()
        for obj in list(self.informer.cache.values()):
            await self.handle(Change("ADDED", obj, None))
        self.informer.on_change(self._queue.put_nowait)
        self._task = self._spawn(self._run(), name="declared-machines")

    async def close(self) -> None:
        """Stop following; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.informer.close()

    def document_changed(self) -> None:
        """A new document may accept what the old one refused (a pool added)."""
        if self.refused:
            self._queue.put_nowait(None)

    async def _run(self) -> None:
        while True:
            change = await self._queue.get()
            if change is None:
                for obj in list(self.refused.values()):
                    self._seen.pop(obj["metadata"]["name"], None)
                    await self.handle(Change("MODIFIED", obj, None))
            else:
                await self.handle(change)

    async def handle(self, change: Change) -> None:
        """Accept, refuse or release the machine one change declares."""
        obj = change.object
        spec = obj.get("spec") or {}
        if spec.get("source") == SOURCE_CONFIGURATION:
            return
        name = str(obj["metadata"]["name"])
        if change.type == "DELETED" or obj["metadata"].get("deletionTimestamp"):
            await self._release(obj, gone=change.type == "DELETED")
            return
        generation = int(obj["metadata"].get("generation") or 0)
        if self._seen.get(name) == generation:
            if name in self.reloader.declared:
                await self._hold(obj)  # a finalizer write lost to a conflict
            return
        self._seen[name] = generation
        await self._declare(name, obj)

    async def _declare(self, name: str, obj: JSON) -> None:
        pools = [pool.name for pool in self.reloader.document.pools]
        try:
            machine = declared_machine(name, obj.get("spec") or {}, pools=pools,
                                       drivers=self.drivers)
            self.reloader.declare(machine)
        except ConfigError as error:
            await self._refuse(name, obj, error)
            return
        self.refused.pop(name, None)
        log.info("BareMetalNode/%s: machine declared in pool %s", name, machine.pool)
        await self._hold(obj)
        self._accepted(name)

    async def _refuse(self, name: str, obj: JSON, error: ConfigError) -> None:
        self.refused[name] = obj
        kept = " (its previous spec stays in force)" if name in self.reloader.declared else ""
        message = "; ".join(error.problems) + kept
        log.error("BareMetalNode/%s refused: %s", name, message)
        await self.events.record(obj, "InvalidMachine", message, warning=True)
        try:
            await self.objects.patch_status(name, {"lastError": message[:1000]})
        except KubeError as failure:
            log.warning("BareMetalNode/%s: refusal not written: %s", name, failure)

    async def _hold(self, obj: JSON) -> None:
        """Put the finalizer on, unless it is there."""
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if FINALIZER in finalizers:
            return
        await self._set_finalizers(obj, [*finalizers, FINALIZER])

    async def _release(self, obj: JSON, *, gone: bool) -> None:
        name = str(obj["metadata"]["name"])
        self._seen.pop(name, None)
        self.refused.pop(name, None)
        machine = self.reloader.declared.get(name)
        if machine is not None:
            await self._let_go(machine, obj)
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if not gone and FINALIZER in finalizers:
            await self._set_finalizers(obj, [f for f in finalizers if f != FINALIZER])

    async def _let_go(self, machine: MachineSpec, obj: JSON) -> None:
        how = (obj.get("spec") or {}).get("onDelete", "leave")
        if how == POWER_OFF_ON_DELETE:
            # Held off meanwhile: pods the drain evicts must not make the planner
            # power it on again between the power-off and the withdrawal.
            self.reloader.declare(machine.model_copy(update={"power_state": "off"}))
            await self._power_off(machine.name, "its BareMetalNode was deleted "
                                                "(onDelete: power-off)")
        self.reloader.withdraw(machine.name)
        what = "powered off and released" if how == POWER_OFF_ON_DELETE else \
            "released; its power is left as it is"
        log.info("BareMetalNode/%s deleted: machine %s", machine.name, what)
        await self.events.record(obj, "Released", f"no longer managed: {what}")

    async def _set_finalizers(self, obj: JSON, finalizers: list[str]) -> None:
        """Replace the finalizers of the version seen (a conflict means a newer version
        is on its way to the informer, which handles it)."""
        meta = obj["metadata"]
        try:
            await self.objects.patch(meta["name"], {"metadata": {
                "finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}})
        except KubeNotFound:
            pass
        except KubeError as error:
            log.warning("BareMetalNode/%s: finalizers not updated: %s", meta["name"], error)
