"""The simulated world: machines moving through their lifecycle, and the pressure
that demand puts on the capacity that is ready.

Every machine is a row in a few numpy arrays, so one step over a thousand machines
costs tens of microseconds. Policies read the world and return decisions; only the
world changes machine states, samples boot times and failures, and derives the
signals (levels, rates, pending) the real controller would measure:

    utilisation u = demand / ready capacity          per pool and resource
    level       L = min(u, 1) ** exponent            PSI-like: near 0 until busy
    rate        R ← R + α ((L - L_prev) / dt - R)     α = dt / (dt + rateWindow)
    pending       = max(demand - ready, 0)            work that cannot be placed

docs/simulation.md explains the choice of the exponent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from controller.planning import MachineState, MachineView
from controller.planning.eligibility import backoff_seconds
from scoring.model import BoolArray, FloatArray
from simulation.fleet import Fleet

STATES = tuple(MachineState)
CODE = {state: code for code, state in enumerate(STATES)}
OFF, POWERING_ON, READY, DRAINING, ERROR = (CODE[MachineState.OFF], CODE[MachineState.POWERING_ON],
                                            CODE[MachineState.READY], CODE[MachineState.DRAINING],
                                            CODE[MachineState.ERROR])
POWERED = np.array([s not in {MachineState.OFF, MachineState.ERROR} for s in STATES])
"""Codes whose machine draws at least idle watts."""
NEVER = math.inf
STARTED_LONG_AGO = -1e6
"""``since`` of machines on at the start: past any minimum uptime."""


@dataclass(frozen=True)
class Observation:
    """What a policy can measure at one step; every array is (pools, resources)."""

    now: float
    demand: FloatArray
    ready: FloatArray
    utilisation: FloatArray
    """demand / ready; above 1 when demand exceeds what is ready."""
    levels: FloatArray
    rates: FloatArray
    pending: FloatArray

    def waiting(self, pool: int) -> bool:
        """Whether work of pool waits for capacity (pods pending)."""
        return bool((self.pending[pool] > 1e-9 * np.maximum(self.demand[pool], 1.0)).any())


@dataclass
class Decisions:
    """Machine indices to act on in one step."""

    power_on: list[int] = field(default_factory=list)
    power_off: list[int] = field(default_factory=list)
    abort: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.power_on) + len(self.power_off) + len(self.abort)


class World:
    """Machine states and the signals derived from demand; seeded, deterministic."""

    def __init__(self, fleet: Fleet, *, seed: int, start_on: bool = True) -> None:
        self.fleet = fleet
        count = len(fleet)
        self.rng = np.random.default_rng(seed)
        self.state = np.full(count, READY if start_on else OFF, dtype=np.int8)
        self.since = np.full(count, STARTED_LONG_AGO)
        self.ready_at = np.full(count, NEVER)
        self.off_at = np.full(count, NEVER)
        self.failures = np.zeros(count, dtype=np.int64)
        self.backoff_until = np.zeros(count)
        self.power_ons = 0
        self.failed_boots = 0
        self.membership = np.zeros((len(fleet.pools), count))
        self.membership[fleet.pool_of, np.arange(count)] = 1.0
        self.boot_mean = (fleet.boot_min + fleet.boot_max) / 2.0
        world = fleet.world
        self.exponent = world.pressure_exponent
        self.rate_window = world.rate_window
        self.shutdown_time = world.shutdown_time
        self._levels: FloatArray | None = None
        self._rates = np.zeros((len(fleet.pools), fleet.capacity.shape[1]))
        self._views: list[MachineView] = []
        self._dirty: set[int] = set(range(count))

    # -- time --------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Finish the boots and shutdowns that are due by now."""
        joined = np.flatnonzero((self.state == POWERING_ON) & (self.ready_at <= now))
        for index in joined.tolist():
            self._set(index, READY, now)
            self.failures[index] = 0
        stopped = np.flatnonzero((self.state == DRAINING) & (self.off_at <= now))
        for index in stopped.tolist():
            self._set(index, OFF, now)

    def observe(self, now: float, demand: FloatArray, dt: float) -> Observation:
        """Signals for demand (pools, resources) against the capacity ready now."""
        ready = self.ready_capacity()
        with np.errstate(divide="ignore", invalid="ignore"):
            utilisation = np.where(ready > 0, demand / ready, np.where(demand > 0, np.inf, 0.0))
        levels = np.minimum(utilisation, 1.0) ** self.exponent
        if self._levels is not None and dt > 0:
            alpha = dt / (dt + self.rate_window)
            self._rates += alpha * ((levels - self._levels) / dt - self._rates)
        self._levels = levels
        pending = np.maximum(demand - ready, 0.0)
        return Observation(now, demand, ready, utilisation, levels, self._rates.copy(), pending)

    # -- what policies read ------------------------------------------------------------

    def ready_mask(self) -> BoolArray:
        mask: BoolArray = self.state == READY
        return mask

    def powered_mask(self) -> BoolArray:
        mask: BoolArray = POWERED[self.state]
        return mask

    def ready_capacity(self) -> FloatArray:
        """(pools, resources) capacity of Ready machines."""
        return self._capacity_where(self.ready_mask())

    def arriving_capacity(self) -> FloatArray:
        """(pools, resources) capacity powering on."""
        return self._capacity_where(self.state == POWERING_ON)

    def _capacity_where(self, mask: BoolArray) -> FloatArray:
        total: FloatArray = (self.membership * mask) @ self.fleet.capacity
        return total

    def views(self) -> tuple[MachineView, ...]:
        """Every machine as the planner sees it; rebuilt only where a state changed."""
        if not self._views:
            self._views = [self._view(index) for index in range(len(self.fleet))]
        else:
            for index in self._dirty:
                self._views[index] = self._view(index)
        self._dirty.clear()
        return tuple(self._views)

    def _view(self, index: int) -> MachineView:
        fleet = self.fleet
        return MachineView(
            name=fleet.names[index], pool=fleet.pools[fleet.pool_of[index]],
            capacity=fleet.capacity[index], state=STATES[self.state[index]],
            since=float(self.since[index]), boot_seconds=float(self.boot_mean[index]),
            idle_watts=float(fleet.idle_watts[index]), failures=int(self.failures[index]),
            backoff_until=float(self.backoff_until[index]))

    # -- what policies change ----------------------------------------------------------

    def apply(self, decisions: Decisions, now: float) -> None:
        for index in decisions.abort:
            self.abort(index, now)
        for index in decisions.power_on:
            self.power_on(index, now)
        for index in decisions.power_off:
            self.power_off(index, now)

    def power_on(self, index: int, now: float) -> None:
        """Start a boot: it reaches Ready after a sampled boot time, or never."""
        if self.state[index] not in (OFF, ERROR):
            return
        fleet = self.fleet
        boot = self.rng.uniform(fleet.boot_min[index], fleet.boot_max[index])
        fails = self.rng.random() < fleet.failure_rate[index]
        self.ready_at[index] = NEVER if fails else now + boot
        self.power_ons += 1
        self.failed_boots += int(fails)
        self._set(index, POWERING_ON, now)

    def power_off(self, index: int, now: float) -> None:
        """Cordon and drain, then shut down: off after the shutdown time."""
        if self.state[index] != READY:
            return
        self.off_at[index] = now + self.shutdown_time
        self._set(index, DRAINING, now)

    def abort(self, index: int, now: float) -> None:
        """A boot that did not join in time: power off, count the failure, back off."""
        if self.state[index] != POWERING_ON:
            return
        self.failures[index] += 1
        self.backoff_until[index] = now + backoff_seconds(int(self.failures[index]))
        self.ready_at[index] = NEVER
        self._set(index, ERROR, now)

    def _set(self, index: int, code: int, now: float) -> None:
        self.state[index] = code
        self.since[index] = now
        self._dirty.add(index)
