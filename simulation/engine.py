"""The simulation loop: a simulated clock stepping at the policy's scan interval.

At each step the world finishes the boots and shutdowns that are due, measures
demand against ready capacity, the policy decides, the world applies the decisions,
and the meter integrates the step. Events land on the step at or after their time,
so their timing is exact to one scan interval (10–30 s against boots of minutes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scoring.model import FloatArray
from simulation.fleet import Fleet
from simulation.metrics import Figures, Meter, Series
from simulation.policies import Policy
from simulation.trace import Trace
from simulation.world import World

Progress = Callable[[float], None]
"""Called with the share of the run done, about once per simulated hour."""


@dataclass(frozen=True)
class Run:
    figures: Figures
    series: Series


def pool_shares(fleet: Fleet) -> FloatArray:
    """(pools, resources): each pool's share of the fleet's capacity, which is the
    share of the demand it receives."""
    per_pool = np.zeros((len(fleet.pools), fleet.capacity.shape[1]))
    np.add.at(per_pool, fleet.pool_of, fleet.capacity)
    total = per_pool.sum(axis=0)
    shares: FloatArray = np.divide(per_pool, total, out=np.zeros_like(per_pool),
                                   where=total > 0)
    return shares


def simulate(fleet: Fleet, trace: Trace, policy: Policy, *, peak_utilisation: float = 0.9,
             seed: int = 1, start_on: bool = True, progress: Progress | None = None) -> Run:
    """Replay trace through policy on fleet; the same seed gives the same run.

    Every machine starts Ready (``start_on``), as when an autoscaler is switched on
    in a running cluster, or off, as after a power outage.
    """
    started = time.perf_counter()
    demand = trace.demand(fleet.total_capacity, peak_utilisation)
    shares = pool_shares(fleet)
    dt = policy.interval
    steps = max(1, math.ceil(trace.duration / dt))
    clock = np.arange(steps) * dt
    rows = np.searchsorted(trace.times, clock, side="right") - 1
    world = World(fleet, seed=seed, start_on=start_on)
    meter = Meter(world)
    report_every = max(1, int(3600.0 / dt))
    for step in range(steps):
        now = float(clock[step])
        pool_demand = demand[rows[step]] * shares
        world.advance(now)
        observation = world.observe(now, pool_demand, dt)
        decisions = policy.decide(world, observation)
        world.apply(decisions, now)
        meter.decisions += len(decisions)
        meter.record(now, dt, pool_demand)
        if progress is not None and step % report_every == 0:
            progress(step / steps)
    if progress is not None:
        progress(1.0)
    return Run(meter.figures(policy.name, time.perf_counter() - started), meter.series())
