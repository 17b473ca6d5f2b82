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
from prometheus_client.parser import text_string_to_metric_families

from lab.cluster import Cluster, is_pending
from lab.controller import ControllerProcess
from lab.host import HostAgent
from lab.machine import LabMachine

DECISIONS_KEPT = 200


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
    """Pool → resource → the controller's aggregated level."""
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
            async with session.get(f"{base}/metrics") as answer:
                metrics = await answer.text()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return False
        self._take_decisions(explained.get("decisions", []))
        self.status.pools = pool_levels(metrics)
        return True

    def _take_decisions(self, decisions: list[dict[str, Any]]) -> None:
        for decision in decisions:
            key = (str(decision.get("pool")), float(decision.get("at", 0.0)),
                   self.controller.starts)
            if key in self._seen:
                continue
            self._seen.add(key)
            if decision.get("chosen"):
                decision["elapsed"] = self.clock() - self._started
                self.status.decisions.append(decision)
            else:
                self.status.holds[str(decision.get("pool"))] = str(decision.get("reason", ""))
        del self.status.decisions[:-DECISIONS_KEPT]
        if len(self._seen) > 10 * DECISIONS_KEPT:
            self._seen = set(sorted(self._seen, key=lambda k: k[1])[-DECISIONS_KEPT:])


def pool_levels(metrics: str) -> dict[str, dict[str, float]]:
    """Pool → resource → level from the controller's exposition text."""
    pools: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "bamel_controller_pool_pressure_level":
                pools.setdefault(sample.labels["pool"], {})[sample.labels["resource"]] = \
                    sample.value
    return pools


def _row(machine: LabMachine, record: Mapping[str, Any]) -> MachineRow:
    node = machine.node
    return MachineRow(
        name=machine.name, pool=machine.plan.pool, shape=machine.plan.shape,
        power=machine.power.value, state=str(record.get("state", "")),
        last_error=str(record.get("lastError") or ""), levels=machine.levels(),
        pods=len(node.pods) if node is not None else 0, peer_alive=machine.peer.alive())
