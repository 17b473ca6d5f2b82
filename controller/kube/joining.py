"""After power-on: wait for the machine's Node to be Ready, then let work onto it.

The kubelet registers the Node tainted ``bamel.io/unconfirmed:NoSchedule``. Only
when it reports Ready does the controller apply the pool's labels, swap that taint
for the pool's taints (in one write, so the node is never schedulable without
them), lift the cordon and record the join time (``observedBootSeconds``): a node
that is up but not labelled or tainted as its pool says would attract pods meant
for another pool.

A machine powered on again finds its old Node still there: cordoned and tainted
by the power-off (``prepare_power_off``), and possibly still showing the Ready of
its previous life, which the node-lifecycle controller clears only after its grace
period. So Ready counts only with proof of a live kubelet: its node Lease in
``kube-node-lease`` renewed after the wait began (a fresh registration has no
Lease before, and any Lease counts). The Lease, not the condition's heartbeat,
because a kubelet with leases reports status only every few minutes, and a change
of resourceVersion, not renewTime, so the kubelet's clock does not matter. A node that is not Ready
within the timeout puts its BareMetalNode in the error state with the reason the
Node gave (or that it never registered), and an Event says so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from controller.config.schema import PoolSpec
from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeNotFound, KubeTimeout
from controller.kube.nodes import (
    UNCONFIRMED_TAINT,
    edit_taints,
    get_node,
    is_ready,
    patch_node,
    ready_condition,
    set_cordoned,
)
from controller.kube.resources import BareMetalNodes, EventRecorder, State

NODE_LEASES = "kube-node-lease"


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
            await self._wait_ready(node, began + deadline_seconds,
                                   stale_lease=await self._lease_version(node))
        except KubeTimeout as error:
            bmn = await self._set_state(machine, "error", error=str(error))
            if bmn is not None:
                await self.events.record(bmn, "JoinTimeout", str(error), warning=True)
            raise
        await patch_node(self.client, node, {"metadata": {"labels": dict(pool.labels)}})
        await edit_taints(self.client, node, lambda taints: confirmed_taints(taints, pool))
        await set_cordoned(self.client, node, False)
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

    async def _not_ready_because(self, node: str, current: JSON,
                                 stale_lease: str | None) -> str:
        """Why the node does not count as joined yet; "" when it does."""
        if not is_ready(current):
            condition = ready_condition(current) or {}
            return (f"Ready={condition.get('status', 'Unknown')} "
                    f"({condition.get('reason', 'no reason')}: {condition.get('message', '')})")
        if await self._lease_version(node) in (None, stale_lease):
            return "Ready is left from before: the kubelet has not renewed its Lease since"
        return ""

    async def _lease_version(self, node: str) -> str | None:
        """The resourceVersion of the node's Lease now, None when it has none."""
        try:
            lease = await self.client.request("GET", api_path(
                "coordination.k8s.io/v1", "leases", namespace=NODE_LEASES, name=node))
        except KubeNotFound:
            return None
        return str(lease["metadata"]["resourceVersion"])

    async def _wait_ready(self, node: str, deadline: float, *, stale_lease: str | None) -> JSON:
        last = "the node never registered"
        while time.monotonic() < deadline:
            try:
                current = await get_node(self.client, node)
            except KubeNotFound:
                current = None
            if current is not None:
                last = await self._not_ready_because(node, current, stale_lease)
                if not last:
                    return current
            await asyncio.sleep(self.poll)
        raise KubeTimeout(f"node {node} not Ready in time: {last}", reason="NotReady")


def confirmed_taints(taints: list[JSON], pool: PoolSpec) -> list[JSON]:
    """A joined node's taints: the unconfirmed one gone, each of the pool's present with
    the pool's value (a taint is one per key and effect), any other kept as it was."""
    wanted = {(taint.key, taint.effect): taint for taint in pool.taints}
    kept = [t for t in taints if t.get("key") != UNCONFIRMED_TAINT
            and (t.get("key"), t.get("effect")) not in wanted]
    pools = [{"key": t.key, "value": t.value, "effect": t.effect} if t.value
             else {"key": t.key, "effect": t.effect} for t in wanted.values()]
    return [*kept, *pools]


async def prepare_power_off(client: KubeClient, node: str) -> None:
    """Leave a drained node cordoned and tainted unconfirmed before its power goes.

    A kubelet re-applies its registration taints only when it creates the Node; the
    old Node outlives the power-off, so the taint is put back here, and the next
    join removes it once the kubelet has proved itself alive.
    """
    await set_cordoned(client, node, True)
    await edit_taints(client, node, lambda taints: taints if any(
        t.get("key") == UNCONFIRMED_TAINT for t in taints) else
        [*taints, {"key": UNCONFIRMED_TAINT, "effect": "NoSchedule"}])


async def restore_after_drain(client: KubeClient, node: str) -> None:
    """Undo what a drain and ``prepare_power_off`` did to a node that stays on: the
    cordon and the unconfirmed taint go (a Node that no longer exists needs nothing)."""
    try:
        await edit_taints(client, node, lambda taints: [
            t for t in taints if t.get("key") != UNCONFIRMED_TAINT])
        await set_cordoned(client, node, False)
    except KubeNotFound:
        return
