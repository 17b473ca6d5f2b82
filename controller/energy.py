"""Live energy accounting: each machine's draw integrated into joules, and what was saved.

Operators want kWh from the running controller, not only from the simulator: the
watts gauge alone changed only at decisions and said nothing about energy over
time. The meter takes a step every ``energy.interval`` seconds, and at once whenever
a machine's record changes (``step`` from the service's change hook), so a draw is
counted exactly for the time it held: a machine's draw is constant between two
steps, and each step adds watts × seconds since the last one.

The draw of a machine is its BMC's reading where one stands
(``controller.powerreadings``, ``source="bmc"``), else the configured watts model
(``controller.fleetstate.machine_watts``, ``source="model"``): off or in error its
``offWatts``, ready or draining its ``idleWatts`` plus the busy share by its node's
CPU pressure level, on its way up or down its ``idleWatts``.

The saving is measured against an always-on fleet, one in which no machine is ever
powered off: a machine that is on draws the same there, and one that is off would be
on and idle, drawing its ``idleWatts``. The saving is that always-on energy less the
energy used. Prometheus counters cannot go down, so a step in which a machine drew
more than its always-on figure (an off machine's BMC reading above its idleWatts)
adds nothing to the saved counter; the NodePool status reports always-on less used.

Totals outlive a restart: every ``energy.persistInterval`` each machine's totals go
into its record (the BareMetalNode status, or the state file), and a new meter
continues from there. The Prometheus counters start from zero with each process, as
counters do; the status shows the cumulative figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.actuation import PowerFor
from controller.config import AutoscalerConfig, MachineSpec
from controller.fleetstate import machine_watts
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState
from controller.powerreadings import PowerReadings
from faults import BoundaryError

log = logging.getLogger(__name__)

SOURCE_MODEL = "model"
SOURCE_BMC = "bmc"
_OFF = (MachineState.OFF, MachineState.ERROR)

Amend = Callable[[str, Callable[[MachineRecord], MachineRecord | None]], Awaitable[bool]]
"""Writes a change to a machine's record in its turn (``Actuator.amend``)."""


@dataclass(frozen=True)
class Draw:
    """What a machine draws from one step to the next, and what it would always-on."""

    pool: str
    watts: float
    source: str
    always_on: float


@dataclass(frozen=True)
class Totals:
    """One machine's or pool's energy so far, in joules, since a wall-clock time."""

    joules: float = 0.0
    always_on_joules: float = 0.0
    since: float = 0.0

    @property
    def saved_joules(self) -> float:
        return self.always_on_joules - self.joules

    def plus(self, other: Totals) -> Totals:
        """Both added up, since the earlier start."""
        starts = [totals.since for totals in (self, other) if totals.since]
        return Totals(self.joules + other.joules,
                      self.always_on_joules + other.always_on_joules, min(starts, default=0.0))


JOULES_PER_KWH = 3.6e6


def energy_status(totals: Totals) -> dict[str, object] | None:
    """A NodePool's ``status.energy``: used, always-on and saved in kWh, the saving as
    a percentage of always-on, and since when (None before the first count)."""
    if not totals.since:
        return None
    saved = totals.saved_joules
    percent = 100.0 * saved / totals.always_on_joules if totals.always_on_joules else 0.0
    return {"usedKWh": round(totals.joules / JOULES_PER_KWH, 6),
            "alwaysOnKWh": round(totals.always_on_joules / JOULES_PER_KWH, 6),
            "savedKWh": round(saved / JOULES_PER_KWH, 6),
            "savedPercent": round(percent, 1),
            "since": datetime.fromtimestamp(totals.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def always_on_watts(spec: MachineSpec, state: MachineState, watts: float) -> float:
    """What the machine would draw in a fleet that never powers off: the same while
    it is on, its idle watts while it is off."""
    return spec.idle_watts if state in _OFF else watts


def totals_of(record: MachineRecord) -> Totals:
    """The totals a machine's record keeps (as the meter last wrote them)."""
    return Totals(record.energy_joules, record.always_on_joules, record.energy_since)


def _with_totals(totals: Totals) -> Callable[[MachineRecord], MachineRecord]:
    def change(record: MachineRecord) -> MachineRecord:
        return dataclasses.replace(record, energy_joules=totals.joules,
                                   always_on_joules=totals.always_on_joules,
                                   energy_since=totals.since)
    return change


class EnergyMeter:
    """Integrates every machine's draw; ``run()`` until cancelled, or ``step()`` by hand."""

    def __init__(self, *, config: Callable[[], AutoscalerConfig],
                 records: Mapping[str, MachineRecord], cpu_level: Callable[[str], float],
                 metrics: ControllerMetrics, power_for: PowerFor | None = None,
                 amend: Amend | None = None, persisted: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """power_for: None meters by the model only; amend: None keeps totals in
        memory only (dry runs); persisted: called after each round of record writes."""
        self._config = config
        self._records = records
        self._cpu_level = cpu_level
        self._metrics = metrics
        self.readings = PowerReadings(power_for=power_for, records=records, clock=clock) \
            if power_for is not None else None
        self._amend = amend
        self._persisted = persisted
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._draws: dict[str, Draw] = {}
        self._last: float | None = None
        self._totals: dict[str, Totals] = {}
        self._written: dict[str, Totals] = {}

    def totals(self, machine: str) -> Totals:
        """The machine's totals so far (its record's until the meter has counted)."""
        if machine in self._totals:
            return self._totals[machine]
        return totals_of(self._records.get(machine, MachineRecord()))

    def pool_totals(self, pool: str) -> Totals:
        """The sum over the pool's machines now."""
        total = Totals()
        for spec in self._config().machines:
            if spec.pool == pool:
                total = total.plus(self.totals(spec.name))
        return total

    def step(self) -> None:
        """Count every machine's draw since the last step, then take each one's new draw."""
        now = self._clock()
        if self._last is not None:
            seconds = max(0.0, now - self._last)
            for name, draw in self._draws.items():
                self._count(name, draw, seconds)
        self._last = now
        config = self._config()
        self._draws = {spec.name: self._draw(spec) for spec in config.machines}
        self._publish(config)

    async def run(self) -> None:
        """Step every interval, start the BMC readings that are due, persist the totals."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._persisting(), name="energy-persist")
            while True:
                self.step()
                config = self._config()
                if self.readings is not None:
                    self.readings.start_due(
                        config.machines, config.energy,
                        start=lambda work, name: group.create_task(work, name=name))
                await self._sleep(config.energy.interval)

    async def persist(self) -> None:
        """Write each machine's totals to its record where they moved since the last write."""
        if self._amend is None:
            return
        self.step()
        for name, totals in list(self._totals.items()):
            if self._written.get(name) == totals:
                continue
            if await self._amend(name, _with_totals(totals)):
                self._written[name] = totals
        self._persisted()

    async def _persisting(self) -> None:
        while True:
            await self._sleep(self._config().energy.persist_interval)
            try:
                await self.persist()
            except BoundaryError as error:  # the store refused: the next round writes again
                log.warning("energy totals not all written: %s", error)

    def _draw(self, spec: MachineSpec) -> Draw:
        record = self._records.get(spec.name, MachineRecord())
        measured = self.readings.watts(spec.name, record) if self.readings else None
        if measured is None:
            node = record.kubernetes_node or spec.name
            watts, source = machine_watts(spec, record.state, self._cpu_level(node)), \
                SOURCE_MODEL
        else:
            watts, source = measured, SOURCE_BMC
        return Draw(spec.pool, watts, source, always_on_watts(spec, record.state, watts))

    def _count(self, name: str, draw: Draw, seconds: float) -> None:
        joules, always_on = draw.watts * seconds, draw.always_on * seconds
        before = self.totals(name)
        self._totals[name] = Totals(before.joules + joules, before.always_on_joules + always_on,
                                    before.since or self._wall() - seconds)
        metrics = self._metrics
        metrics.machine_energy.labels(name, draw.pool, draw.source).inc(joules)
        metrics.pool_energy.labels(draw.pool).inc(joules)
        metrics.pool_always_on_energy.labels(draw.pool).inc(always_on)
        metrics.pool_energy_saved.labels(draw.pool).inc(max(0.0, always_on - joules))

    def _publish(self, config: AutoscalerConfig) -> None:
        """The watts gauges: each machine's by its source, each pool's sum."""
        pools = dict.fromkeys((pool.name for pool in config.pools), 0.0)
        for name, draw in self._draws.items():
            other = SOURCE_BMC if draw.source == SOURCE_MODEL else SOURCE_MODEL
            gauge = self._metrics.machine_watts
            gauge.labels(name, draw.pool, draw.source).set(draw.watts)
            gauge.remove(name, draw.pool, other)  # one series per machine: the source now
            if draw.pool in pools:
                pools[draw.pool] += draw.watts
        for pool, watts in pools.items():
            self._metrics.energy_watts.labels(pool).set(watts)
