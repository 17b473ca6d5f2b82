"""What a run costs and delivers: energy, unmet demand, power cycles, decisions.

The meter integrates over each step with the machine states the policy left: a
machine powered on at a step draws from that step; one drained at a step no longer
serves it. Busy power follows the cpu utilisation of the machine's pool (served cpu
over ready cpu), linearly between idle and busy watts, like SPECpower curves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from controller.config import RESOURCES
from scoring.model import FloatArray
from simulation.world import World

JOULES_PER_KWH = 3.6e6
DAY = 86400.0
SERIES_STEP = 300.0
"""Seconds between the points kept for plots: 8 days make 2,304 points."""
CPU = RESOURCES.index("cpu")


@dataclass(frozen=True)
class Figures:
    """One policy's results; shares are fractions in [0, 1]."""

    policy: str
    energy_kwh: float
    saved_vs_always_on: float | None
    unmet_share: float
    """Worst resource's Σ deficit·dt over Σ demand·dt."""
    deficit_time_share: float
    """Share of time with any deficit."""
    power_cycles_per_machine: float
    power_cycles_per_machine_per_day: float
    """Power-ons per machine over the simulated days: a wear figure that does not
    grow with the length of the trace, unlike ``power_cycles_per_machine``."""
    failed_boots: int
    decisions: int
    mean_ready_share: float
    """Mean ready capacity of the dominant resource, as a share of the fleet."""
    seconds: float
    """Wall-clock time the run took."""
    share_of_oracle: float | None = None
    """``saved_vs_always_on`` over what the oracle saves (``simulation.ideal``); None
    (n/a) when either is unknown or the oracle saves nothing."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Series:
    """Demand and ready capacity of one resource over time, shares of the fleet."""

    times: FloatArray
    demand: FloatArray
    ready: FloatArray


class Meter:
    """Accumulates a run's figures step by step."""

    def __init__(self, world: World, resource: int = CPU) -> None:
        self.world = world
        fleet = world.fleet
        self.resource = resource
        self.span = fleet.busy_watts - fleet.idle_watts
        self.total = fleet.total_capacity
        self.joules = 0.0
        self.elapsed = 0.0
        self.deficit_time = np.zeros(len(RESOURCES))
        self.demand_time = np.zeros(len(RESOURCES))
        self.deficit_seconds = 0.0
        self.ready_time = 0.0
        self.decisions = 0
        self._times: list[float] = []
        self._demand: list[float] = []
        self._ready: list[float] = []

    def record(self, now: float, dt: float, demand: FloatArray) -> None:
        """Integrate [now, now + dt) with demand (pools, resources) and current states."""
        world, fleet = self.world, self.world.fleet
        ready = world.ready_capacity()
        served = np.minimum(demand, ready)
        with np.errstate(divide="ignore", invalid="ignore"):
            busy = np.where(ready[:, CPU] > 0, served[:, CPU] / ready[:, CPU], 0.0)
        powered = world.powered_mask()
        ready_mask = world.ready_mask()
        watts = float(np.where(powered, fleet.idle_watts, fleet.off_watts).sum())
        watts += float((world.membership @ (self.span * ready_mask)) @ busy)
        self.joules += watts * dt
        self.elapsed += dt
        deficit = (demand - served).sum(axis=0)
        self.deficit_time += deficit * dt
        total_demand = demand.sum(axis=0)
        self.demand_time += total_demand * dt
        if (deficit > 1e-9 * np.maximum(total_demand, 1.0)).any():
            self.deficit_seconds += dt
        ready_total = ready.sum(axis=0)
        self.ready_time += float(ready_total[self.resource]) * dt
        if not self._times or now >= self._times[-1] + SERIES_STEP:
            scale = self.total[self.resource]
            self._times.append(now)
            self._demand.append(float(total_demand[self.resource] / scale))
            self._ready.append(float(ready_total[self.resource] / scale))

    def figures(self, policy: str, seconds: float) -> Figures:
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = np.where(self.demand_time > 0, self.deficit_time / self.demand_time, 0.0)
        elapsed = max(self.elapsed, 1e-12)
        cycles = self.world.power_ons / len(self.world.fleet)
        return Figures(
            policy=policy, energy_kwh=self.joules / JOULES_PER_KWH, saved_vs_always_on=None,
            unmet_share=float(shares.max()), deficit_time_share=self.deficit_seconds / elapsed,
            power_cycles_per_machine=cycles,
            power_cycles_per_machine_per_day=cycles / (elapsed / DAY),
            failed_boots=self.world.failed_boots, decisions=self.decisions,
            mean_ready_share=self.ready_time / elapsed / float(self.total[self.resource]),
            seconds=seconds)

    def series(self) -> Series:
        return Series(np.array(self._times), np.array(self._demand), np.array(self._ready))
