"""The ideal: what an oracle would save on a trace, the yardstick for every policy.

An oracle knows the demand and boots machines in no time, so it keeps just the
machines that cover the demand of the moment, the cheapest capacity first (most cpu
per idle watt), and no headroom. No real policy gets there: machines take minutes to
boot, and load can double in less. What the ideal saves against always-on tells an
operator how much there is to save at all on their load and fleet, before any
policy is judged against a target.

Energy follows the simulator's meter: idle watts on every Ready machine, plus
(busy − idle) × the pool's cpu utilisation; off watts on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.model import FloatArray
from simulation.engine import pool_shares
from simulation.fleet import Fleet
from simulation.metrics import CPU, JOULES_PER_KWH
from simulation.trace import Trace


@dataclass(frozen=True)
class Ideal:
    energy_kwh: float
    always_on_kwh: float

    @property
    def saved(self) -> float:
        """Share of the always-on energy the oracle saves."""
        return 1.0 - self.energy_kwh / self.always_on_kwh if self.always_on_kwh > 0 else 0.0


def ideal(fleet: Fleet, trace: Trace, peak_utilisation: float) -> Ideal:
    """The oracle's and always-on energy over the whole trace, pool by pool."""
    demand = trace.demand(fleet.total_capacity, peak_utilisation)
    durations = np.diff(np.append(trace.times, trace.duration))
    shares = pool_shares(fleet)
    oracle = always_on = 0.0
    for pool in range(len(fleet.pools)):
        members = np.flatnonzero(fleet.pool_of == pool)
        pool_demand = demand * shares[pool]
        oracle += float(_watts(fleet, members, pool_demand, all_on=False) @ durations)
        always_on += float(_watts(fleet, members, pool_demand, all_on=True) @ durations)
    return Ideal(oracle / JOULES_PER_KWH, always_on / JOULES_PER_KWH)


def _watts(fleet: Fleet, members: np.ndarray, demand: FloatArray, *, all_on: bool) -> FloatArray:
    """(rows,) watts of a pool whose cheapest machines that cover demand are Ready
    (every machine when all_on) and the rest off."""
    if not len(members):
        return np.zeros(len(demand))
    cpu = fleet.capacity[members, CPU]
    order = members[np.lexsort((members, -cpu / np.maximum(fleet.idle_watts[members], 1e-9)))]
    covered = np.cumsum(fleet.capacity[order], axis=0)
    if all_on:
        count = np.full(len(demand), len(order))
    else:
        needed = [np.searchsorted(covered[:, r], demand[:, r] * (1 - 1e-12), side="left")
                  for r in range(covered.shape[1])]
        count = np.minimum(np.max(needed, axis=0) + 1, len(order))
        count[(demand <= 0).all(axis=1)] = 0
    idle = np.concatenate([[0.0], np.cumsum(fleet.idle_watts[order])])[count]
    off = fleet.off_watts[order].sum() - np.concatenate(
        [[0.0], np.cumsum(fleet.off_watts[order])])[count]
    span = np.concatenate([[0.0], np.cumsum(fleet.busy_watts[order]
                                            - fleet.idle_watts[order])])[count]
    ready_cpu = np.concatenate([[0.0], covered[:, CPU]])[count]
    with np.errstate(divide="ignore", invalid="ignore"):
        busy = np.where(ready_cpu > 0, np.minimum(demand[:, CPU], ready_cpu) / ready_cpu, 0.0)
    watts: FloatArray = idle + off + span * busy
    return watts
