"""The signal a pool is decided on, derived from what was measured.

Two rules say what a measurement means, and they are decisions, so they live with
the planner rather than with whoever builds the snapshot:

- Silence is not idleness. A resource no agent of the pool reported recently is
  taken to be at its target level, with no trend: a pool must not be scaled down
  because its agents went quiet, nor up because of it.
- A join takes a moment to reach the scheduler. Pods pending when a machine has just
  joined stay marked Unschedulable until the scheduler retries them, and its longest
  retry backoff is 10 s. For that long their requests are not demand, or one pending
  pod could power on a second machine the moment the first one joins. The pods
  themselves still count, so nothing in the pool is powered off while they wait.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from controller.config import RESOURCES
from controller.planning.snapshot import MachineState, MachineView, PoolSignal, zeros
from scoring.model import FloatArray

JOIN_SETTLE = 10.0
"""Seconds after a machine joins during which its pool's pending requests are not
demand: the scheduler's longest retry backoff."""

def effective(signal: PoolSignal, machines: list[MachineView], *, target: FloatArray,
              settle: float, now: float) -> PoolSignal:
    """The signal to decide on: unheard resources at target, a just-joined pool's
    pending requests set aside for ``settle`` seconds."""
    levels, rates, pending = signal.levels, signal.rates, signal.pending
    if signal.unheard is not None:
        levels = np.where(signal.unheard, target, levels)
        rates = np.where(signal.unheard, 0.0, rates)
    if just_joined(machines, settle=settle, now=now):
        pending = zeros(len(RESOURCES))
    if levels is signal.levels and pending is signal.pending:
        return signal
    return PoolSignal(levels, rates, pending, signal.pending_pods, signal.unheard)


def just_joined(machines: list[MachineView], *, settle: float, now: float) -> bool:
    """Whether a machine of the pool became Ready less than settle seconds ago."""
    return any(now - machine.since < settle for machine in machines
               if machine.state is MachineState.READY)


def wake_times(machines: list[MachineView], *, settle: float) -> Iterator[float]:
    """When a join stops setting pending requests aside."""
    for machine in machines:
        if machine.state is MachineState.READY:
            yield machine.since + settle
