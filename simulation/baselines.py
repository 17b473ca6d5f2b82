"""Other autoscalers' rules, reproduced to compare against; not ours to tune.

- ``pending-only``: Cluster Autoscaler. Scales up only for pods that cannot be
  placed (10 s scan); a node is unneeded when utilisation is below 0.5 and its load
  fits on the others; it goes after 10 min unneeded and 10 min after the last
  scale-up, one node at a time; a node not Ready 15 min after power-on is given up.
- ``threshold``: utilisation (of ready plus arriving capacity) above 70 % powers on
  enough machines to get back to 70 %; below 30 % for 10 min powers off one.
- ``loadavg``: cluster-bare-autoscaler's load-average strategy: a 5-minute load
  average per core; above the up threshold one machine on, below the down threshold
  one off, with a cooldown after each action.

All of them use the world's signals only as their originals would (requests,
utilisation, load), and pick machines in efficiency order (``efficiency_order``).
"""

from __future__ import annotations

import math

import numpy as np

from scoring.model import FloatArray
from simulation.world import (
    DRAINING,
    ERROR,
    OFF,
    POWERING_ON,
    READY,
    Decisions,
    Observation,
    World,
)

TOLERANCE = 1e-9


def efficiency_order(world: World) -> np.ndarray:
    """Machine indices, most cpu per idle watt first (ties by index): baselines power on
    from the front and off from the back, which flatters them rather than not."""
    fleet = world.fleet
    efficiency = fleet.capacity[:, 0] / np.maximum(fleet.idle_watts, 1e-9)
    return np.lexsort((np.arange(len(fleet)), -efficiency))


class _Baseline:
    """Shared bookkeeping: per-pool timers, candidate lists, late boots."""

    name = "baseline"
    interval = 30.0
    """Seconds between scans, the original's default."""
    provision_timeout: float | None = None
    """Seconds a boot may take before it is given up; None: the planner's rule."""

    def __init__(self, *, interval: float | None = None) -> None:
        if interval is not None:
            self.interval = interval
        self._order: np.ndarray | None = None

    def order(self, world: World) -> np.ndarray:
        if self._order is None:
            self._order = efficiency_order(world)
        return self._order

    def late_boots(self, world: World, now: float) -> list[int]:
        booting = np.flatnonzero(world.state == POWERING_ON)
        late = []
        for index in booting.tolist():
            timeout = self.provision_timeout
            if timeout is None:
                timeout = max(2.0 * world.boot_mean[index], world.boot_mean[index] + 120.0)
            if now - world.since[index] > timeout:
                late.append(index)
        return late

    def startable(self, world: World, pool: int, now: float) -> list[int]:
        """Machines of pool that may be powered on, best first."""
        order = self.order(world)
        state = world.state[order]
        free = (state == OFF) | ((state == ERROR) & (world.backoff_until[order] <= now))
        chosen: list[int] = order[free & (world.fleet.pool_of[order] == pool)].tolist()
        return chosen

    def stoppable(self, world: World, pool: int) -> list[int]:
        """Ready machines of pool, the least efficient first."""
        order = self.order(world)[::-1]
        ready = (world.state[order] == READY) & (world.fleet.pool_of[order] == pool)
        chosen: list[int] = order[ready].tolist()
        return chosen

    @staticmethod
    def in_pool(world: World, pool: int, code: int) -> bool:
        return bool(((world.state == code) & (world.fleet.pool_of == pool)).any())


def worst(demand: FloatArray, capacity: FloatArray) -> float:
    """The highest demand / capacity over resources (inf when capacity is missing)."""
    used = demand > TOLERANCE
    if not used.any():
        return 0.0
    if (capacity[used] <= 0).any():
        return math.inf
    return float((demand[used] / capacity[used]).max())


class PendingOnly(_Baseline):
    """Cluster Autoscaler: acts on pending pods up, on low utilisation down."""

    name = "pending-only"
    interval = 10.0
    provision_timeout = 900.0
    utilisation_threshold = 0.5
    unneeded_time = 600.0
    delay_after_add = 600.0

    def __init__(self, *, interval: float | None = None) -> None:
        super().__init__(interval=interval)
        self.unneeded_since: dict[int, float] = {}
        self.last_add: dict[int, float] = {}

    def decide(self, world: World, observation: Observation) -> Decisions:
        now = observation.now
        decisions = Decisions(abort=self.late_boots(world, now))
        arriving = world.arriving_capacity()
        for pool in range(len(world.fleet.pools)):
            if observation.waiting(pool):
                self.unneeded_since.pop(pool, None)
                need = observation.pending[pool] - arriving[pool]
                for index in self.startable(world, pool, now):
                    if not (need > TOLERANCE).any():
                        break
                    decisions.power_on.append(index)
                    need = need - world.fleet.capacity[index]
                    self.last_add[pool] = now
                continue
            self._scale_down(world, observation, pool, decisions)
        return decisions

    def _scale_down(self, world: World, observation: Observation, pool: int,
                    decisions: Decisions) -> None:
        now = observation.now
        demand, ready = observation.demand[pool], observation.ready[pool]
        candidates = self.stoppable(world, pool)
        unneeded = bool(candidates) and \
            worst(demand, ready) < self.utilisation_threshold and \
            worst(demand, ready - world.fleet.capacity[candidates[0]]) <= 1.0
        if not unneeded:
            self.unneeded_since.pop(pool, None)
            return
        since = self.unneeded_since.setdefault(pool, now)
        added = self.last_add.get(pool, -math.inf)
        if now - since >= self.unneeded_time and now - added >= self.delay_after_add \
                and not self.in_pool(world, pool, DRAINING):
            decisions.power_off.append(candidates[0])


class Threshold(_Baseline):
    """Utilisation bands: above ``up`` add capacity, below ``down`` (sustained) remove."""

    name = "threshold"
    up = 0.7
    down = 0.3
    sustain = 600.0

    def __init__(self, *, interval: float | None = None) -> None:
        super().__init__(interval=interval)
        self.low_since: dict[int, float] = {}

    def decide(self, world: World, observation: Observation) -> Decisions:
        now = observation.now
        decisions = Decisions(abort=self.late_boots(world, now))
        arriving = world.arriving_capacity()
        capacity = world.fleet.capacity
        for pool in range(len(world.fleet.pools)):
            demand, ready = observation.demand[pool], observation.ready[pool]
            planned = ready + arriving[pool]
            if worst(demand, planned) > self.up:
                self.low_since.pop(pool, None)
                for index in self.startable(world, pool, now):
                    decisions.power_on.append(index)
                    planned = planned + capacity[index]
                    if worst(demand, planned) <= self.up:
                        break
                continue
            if worst(demand, ready) >= self.down or self.in_pool(world, pool, POWERING_ON):
                self.low_since.pop(pool, None)
                continue
            since = self.low_since.setdefault(pool, now)
            candidates = self.stoppable(world, pool)
            if now - since >= self.sustain and candidates \
                    and not self.in_pool(world, pool, DRAINING) \
                    and worst(demand, ready - capacity[candidates[0]]) <= self.up:
                decisions.power_off.append(candidates[0])
        return decisions


class LoadAverage(_Baseline):
    """A load average per core with separate up and down thresholds and a cooldown."""

    name = "loadavg"
    up = 0.8
    down = 0.4
    window = 300.0
    """The load average's time constant: load5."""
    cooldown = 300.0
    overloaded = 4.0
    """Load per core counted when no capacity is ready at all."""

    def __init__(self, *, interval: float | None = None) -> None:
        super().__init__(interval=interval)
        self.load: dict[int, float] = {}
        self.last_action: dict[int, float] = {}

    def decide(self, world: World, observation: Observation) -> Decisions:
        now = observation.now
        decisions = Decisions(abort=self.late_boots(world, now))
        alpha = 1.0 - math.exp(-self.interval / self.window)
        for pool in range(len(world.fleet.pools)):
            sample = min(worst(observation.demand[pool], observation.ready[pool]),
                         self.overloaded)
            load = self.load.get(pool, sample)
            load += alpha * (sample - load)
            self.load[pool] = load
            if now - self.last_action.get(pool, -math.inf) < self.cooldown:
                continue
            if load > self.up:
                chosen = self.startable(world, pool, now)[:1]
                decisions.power_on.extend(chosen)
            elif load < self.down:
                candidates = self.stoppable(world, pool)
                chosen = candidates[:1] if len(candidates) > 1 else []
                decisions.power_off.extend(chosen)
            else:
                continue
            if chosen:
                self.last_action[pool] = now
        return decisions

