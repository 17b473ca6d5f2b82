"""After power-on: wait for the machine's Node to be Ready, then let work onto it.

The kubelet registers the Node tainted ``bamel.io/unconfirmed:NoSchedule``. Only
when it reports Ready does the controller apply the pool's labels, remove the
taint and record the join time (``observedBootSeconds``): a node that is up but
not labelled would attract pods meant for another pool. A node that is not Ready
within the timeout puts its BareMetalNode in the error state with the reason the
Node gave (or that it never registered), and an Event says so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from controller.config.schema import PoolSpec
from controller.kube.client import JSON, KubeClient
from controller.kube.errors import KubeNotFound, KubeTimeout
from controller.kube.nodes import (
    UNCONFIRMED_TAINT,
    get_node,
    is_ready,
    patch_node,
    ready_condition,
    remove_taint,
)
from controller.kube.resources import BareMetalNodes, EventRecorder, State


@dataclass(frozen=True)
class Joined:
    node: str
    seconds: float
    """From the call (power-on acknowledged) to Ready, labelled and untainted."""


class NodeJoiner:
    """Takes one powered-on machine from ``joining`` to ``ready`` (or ``error``)."""

    def __init__(self, client: KubeClient, *, events: EventRecorder,
                 machines: BareMetalNodes | None, poll: float = 0.5) -> None:
        self.client = client
        self.events = events
        self.machines = machines
        self.poll = poll
        """Seconds between reads of the Node while waiting: one machine, a few minutes."""
        # None when the caller keeps the BareMetalNode status itself (the controller's
        # actuator records every step through its MachineStore).

    async def join(self, machine: str, node: str, pool: PoolSpec, *,
                   deadline_seconds: float, started: float | None = None) -> Joined:
        """Wait for Ready, label, untaint; raise KubeTimeout after setting state error."""
        began = time.monotonic() if started is None else started
        bmn = await self._set_state(machine, "joining", kubernetesNode=node)
        try:
            await self._wait_ready(node, began + deadline_seconds)
        except KubeTimeout as error:
            bmn = await self._set_state(machine, "error", error=str(error))
            if bmn is not None:
                await self.events.record(bmn, "JoinTimeout", str(error), warning=True)
            raise
        await patch_node(self.client, node, {"metadata": {"labels": dict(pool.labels)}})
        await remove_taint(self.client, node, UNCONFIRMED_TAINT)
        seconds = time.monotonic() - began
        bmn = await self._set_state(machine, "ready", observedBootSeconds=int(seconds),
                                    lastError=None)
        message = f"node {node} joined pool {pool.name} after {seconds:.0f}s"
        if bmn is not None:
            await self.events.record(bmn, "Joined", message)
        await self.events.record_node(node, "Joined", message)
        return Joined(node, seconds)

    async def _set_state(self, machine: str, state: State, *, error: str | None = None,
                         **fields: Any) -> JSON | None:
        if self.machines is None:
            return None
        return await self.machines.set_state(machine, state, error=error, **fields)

    async def _wait_ready(self, node: str, deadline: float) -> JSON:
        last = "the node never registered"
        while time.monotonic() < deadline:
            try:
                current = await get_node(self.client, node)
            except KubeNotFound:
                current = None
            if current is not None:
                if is_ready(current):
                    return current
                condition = ready_condition(current) or {}
                last = (f"Ready={condition.get('status', 'Unknown')} "
                        f"({condition.get('reason', 'no reason')}: "
                        f"{condition.get('message', '')})")
            await asyncio.sleep(self.poll)
        raise KubeTimeout(f"node {node} not Ready in time: {last}", reason="NotReady")
