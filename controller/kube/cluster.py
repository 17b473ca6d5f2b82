"""The actuator's view of Kubernetes: join, drain and tell people, over the kube layer.

The actuator is written against two small protocols (``Cluster`` and
``MachineEvents`` in ``controller.actuation``); this adapter implements them with
the joiner, the drainer and the event recorder, and reads each pool's drain
settings from the configuration holder when it needs them, so a hot-reloaded
drainTimeout applies to the next drain. A machine's Node has the machine's name.
What follows a join without holding it up (the image warm-up) subscribes with
``on_joined``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller.config import ConfigHolder, MachineSpec
from controller.kube.client import KubeClient
from controller.kube.draining import Drainer, DrainSettings
from controller.kube.errors import DrainRefused, KubeError
from controller.kube.joining import NodeJoiner, prepare_power_off, restore_after_drain
from controller.kube.resources import BareMetalNodes, EventRecorder
from controller.leadership import StillLeading, always_leading

log = logging.getLogger(__name__)

Joined = Callable[[MachineSpec, str], None]
"""(machine, its Node's name) once the Node is Ready, labelled and untainted."""


class KubeCluster:
    """Joins and drains machines' nodes; records Events on BareMetalNodes and Nodes."""

    def __init__(self, client: KubeClient, *, config: ConfigHolder,
                 last_in_pool: Callable[[MachineSpec], bool] = lambda machine: False,
                 join_poll: float = 0.5, still_leading: StillLeading = always_leading) -> None:
        self.events = EventRecorder(client)
        self.machines = BareMetalNodes(client)
        self.joiner = NodeJoiner(client, events=self.events, machines=None, poll=join_poll)
        self.drainer = Drainer(client, events=self.events, still_leading=still_leading)
        self._config = config
        self._last_in_pool = last_in_pool
        self._joined: list[Joined] = []

    def on_joined(self, handler: Joined) -> None:
        """Call handler (which must not block or raise) after each join completes."""
        self._joined.append(handler)

    async def await_join(self, machine: MachineSpec, *, within: float) -> str:
        """Wait for the machine's Node to be Ready, label and untaint it; its name."""
        pool = self._config.current.pool(machine.pool)
        joined = await self.joiner.join(machine.name, machine.name, pool,
                                        deadline_seconds=within)
        for handler in self._joined:
            handler(machine, joined.node)
        return joined.node

    async def drain(self, machine: MachineSpec, *, node: str) -> None:
        """PDB-aware drain with the pool's timeout; raises when refused or out of time.

        The pool's last node is drained only when empty of workload: its pods would
        go pending and power it straight back on. A drained node is left cordoned and
        tainted unconfirmed, ready for the next join.
        """
        pool = self._config.current.pool(machine.pool)
        settings = DrainSettings(timeout=pool.scale_down.drain_timeout,
                                 allow_empty_dir=pool.scale_down.allow_empty_dir)
        if self._last_in_pool(machine):
            pods = await self.drainer.check(node, settings)
            if pods:
                raise DrainRefused(
                    f"{node} is the last node of pool {pool.name}: its {len(pods)} pod(s) "
                    "would have nowhere to go", reason="DrainRefused")
        await self.drainer.drain(node, settings)
        await prepare_power_off(self.drainer.client, node)

    async def restore(self, machine: MachineSpec, *, node: str) -> None:
        """Uncordon and lift the unconfirmed taint a drain before a restart left on node."""
        await restore_after_drain(self.drainer.client, node)
        await self.events.record_node(node, "DrainAbandoned",
                                      "drain resumed after a restart was refused; uncordoned")

    async def machine_event(self, machine: MachineSpec, reason: str, message: str, *,
                            warning: bool = False) -> None:
        """An Event on the BareMetalNode, and on the Node when there is one."""
        try:
            bmn = await self.machines.get(machine.name)
        except KubeError as error:
            log.warning("event %s on %s not recorded: %s", reason, machine.name, error)
            return
        await self.events.record(bmn, reason, message, warning=warning)
        await self.events.record_node(machine.name, reason, message, warning=warning)
