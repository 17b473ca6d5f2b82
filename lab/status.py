"""What the lab looks like now, gathered from where each fact lives.

Machine states come from the BareMetalNode status the controller writes; power from
each machine's own peer; pool pressure from the controller's /metrics; decisions,
with their reasons and score contributions, from its /explain; pending pods from
the API server. The view, the summary and the tests all read one :class:`LabStatus`
built here, so they never disagree about what happened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from lab.cluster import Cluster, is_pending
from lab.controller import ControllerProcess
from lab.host import HostAgent
from lab.machine import LabMachine

DECISIONS_KEPT = 200
REPEAT_SECONDS = 5.0


@dataclass(frozen=True)
class MachineRow:
    name: str
    pool: str
    shape: str
    power: str
    """As the machine sees it: off, booting, on."""
    state: str
    """As the controller recorded it in the BareMetalNode status ("" before it did)."""
    last_error: str
    levels: Mapping[str, float]
    pods: int
    peer_alive: bool


@dataclass
class LabStatus:
    elapsed: float = 0.0
    machines: list[MachineRow] = field(default_factory=list)
    pools: dict[str, dict[str, float]] = field(default_factory=dict)
    """Pool → resource → mean level its powered nodes stream now (what the controller
    aggregates; its own /metrics gauge is refreshed only when it plans)."""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """Every decision that chose a machine, oldest first."""
    holds: dict[str, str] = field(default_factory=dict)
    """Pool → the reason of its latest decision that chose nothing."""
    pending: int = 0
    host: Mapping[str, float] = field(default_factory=dict)
    host_sources: Mapping[str, str] = field(default_factory=dict)
    controller_up: bool = False

    def machine(self, name: str) -> MachineRow:
        for row in self.machines:
            if row.name == name:
                return row
        raise KeyError(name)


class Observer:
    """Refreshes a LabStatus on demand; keeps the decisions it has seen."""

    def __init__(self, *, cluster: Cluster, controller: ControllerProcess,
                 machines: Sequence[LabMachine], namespace: str,
                 host: HostAgent | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster = cluster
        self.controller = controller
        self.machines = machines
        self.namespace = namespace
        self.host = host
        self.clock = clock
        self.status = LabStatus()
        self._started = clock()
        self._seen: set[tuple[str, float, int]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> LabStatus:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        status = self.status
        status.elapsed = self.clock() - self._started
        records: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(ApiException, aiohttp.ClientError, OSError, TimeoutError):
            records = await self.cluster.machines()
            status.pending = sum(1 for pod in await self.cluster.pods(self.namespace)
                                 if is_pending(pod))
        status.machines = [_row(machine, records.get(machine.name, {}))
                           for machine in self.machines]
        status.pools = pool_levels(self.machines)
        status.controller_up = await self._read_controller(self._session)
        if self.host is not None:
            await self.host.refresh(self._session)
            status.host, status.host_sources = dict(self.host.levels), dict(self.host.sources)
        return status

    async def _read_controller(self, session: aiohttp.ClientSession) -> bool:
        base = self.controller.url
        try:
            async with session.get(f"{base}/explain?limit=50") as answer:
                explained = await answer.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return False
        self._take_decisions(explained.get("decisions", []))
        return True

    def _take_decisions(self, decisions: list[dict[str, Any]]) -> None:
        for decision in decisions:
            key = (str(decision.get("pool")), float(decision.get("at", 0.0)),
                   self.controller.starts)
            if key in self._seen:
                continue
            self._seen.add(key)
            if decision.get("chosen"):
                if not self._repeats(decision):
                    decision["elapsed"] = self.clock() - self._started
                    self.status.decisions.append(decision)
            else:
                self.status.holds[str(decision.get("pool"))] = str(decision.get("reason", ""))
        del self.status.decisions[:-DECISIONS_KEPT]
        if len(self._seen) > 10 * DECISIONS_KEPT:
            self._seen = set(sorted(self._seen, key=lambda k: k[1])[-DECISIONS_KEPT:])


    def _repeats(self, decision: Mapping[str, Any]) -> bool:
        """The same choice again while the first is starting (the planner ran again
        before the machine's record moved): one decision, not two."""
        for earlier in reversed(self.status.decisions):
            if earlier.get("pool") == decision.get("pool"):
                same = (earlier.get("direction"), earlier.get("chosen")) == \
                    (decision.get("direction"), decision.get("chosen"))
                return same and float(decision.get("at", 0.0)) - float(earlier.get("at", 0.0)) \
                    < REPEAT_SECONDS
        return False


def pool_levels(machines: Sequence[LabMachine]) -> dict[str, dict[str, float]]:
    """Pool → resource → mean level over the pool's machines that stream (are on)."""
    sums: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for machine in machines:
        pool = machine.plan.pool
        sums.setdefault(pool, {})
        levels = machine.levels()
        if not levels:
            continue
        counts[pool] = counts.get(pool, 0) + 1
        for resource, level in levels.items():
            sums[pool][resource] = sums[pool].get(resource, 0.0) + level
    return {pool: {r: v / counts[pool] for r, v in levels.items()} if pool in counts else {}
            for pool, levels in sums.items()}


def _row(machine: LabMachine, record: Mapping[str, Any]) -> MachineRow:
    node = machine.node
    return MachineRow(
        name=machine.name, pool=machine.plan.pool, shape=machine.plan.shape,
        power=machine.power.value, state=str(record.get("state", "")),
        last_error=str(record.get("lastError") or ""), levels=machine.levels(),
        pods=len(node.pods) if node is not None else 0, peer_alive=machine.peer.alive())
