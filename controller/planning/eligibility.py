"""Filter: which machines may be powered on or off now, and why the others may not.

Every exclusion carries a reason, so ``bamel explain`` can say why a machine that
looked right was not chosen. The timers applied here (backoff, minUptime, the
rate-limit minute, the cooldown) report when they run out in ``wake_times``, next to
the rules: the reactor sleeps until then, so a timer missing there is slept through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from controller.config import RESOURCES, PoolSpec
from controller.planning.estimate import PoolTotals
from controller.planning.snapshot import MachineState, MachineView, PoolMemory
from faults import exponential
from scoring.model import FloatArray

MINUTE = 60.0
CEILINGS = (("cpu", 0), ("memory", 1), ("gpu", 3))
"""Resources with an aggregate ceiling in PoolLimits, and their column."""


@dataclass
class Eligible:
    machines: list[MachineView] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    blocked: str | None = None
    """Set when the whole pool may not act (rate limit, cooldown, bounds)."""


def join_timeout(machine: MachineView) -> float:
    """How long a machine may take from power-on to Ready before it counts as failed."""
    return join_timeout_for(machine.boot_seconds)


def join_timeout_for(boot_seconds: float) -> float:
    """max(2 x bootTime, bootTime + 2 min): the join timeout of an expected boot time."""
    return max(2.0 * boot_seconds, boot_seconds + 120.0)


QUARANTINED = "quarantined: its BMC failed too often in a row; probed until it answers"
"""The exclusion of a quarantined machine (``controller.quarantine``), either way."""

BACKOFF_CEILING = 3600.0
"""The longest wait before a failed machine is tried again (seconds)."""


def backoff_seconds(failures: int, base: float = 60.0, ceiling: float = BACKOFF_CEILING) -> float:
    """Doubling backoff after consecutive failed power-ons."""
    return exponential(max(failures - 1, 0), base=base, ceiling=ceiling)


def recent(times: tuple[float, ...], now: float) -> int:
    """Actions in the last minute (the rate-limit window)."""
    return sum(1 for t in times if now - t < MINUTE)


def wake_times(pool: PoolSpec, machines: list[MachineView],
               memory: PoolMemory) -> Iterator[float]:
    """Every instant one of this module's answers for pool can change with no event
    (past ones included: the planner keeps the future ones)."""
    for started in (*memory.power_ons, *memory.power_offs):
        yield started + MINUTE
    if memory.last_scale_up is not None:
        yield memory.last_scale_up + pool.scale_up.cooldown
    for machine in machines:
        if machine.backoff_until and not machine.state.in_flight_up:
            yield machine.backoff_until
        if machine.state is MachineState.READY:
            yield machine.since + pool.scale_down.min_uptime


def power_on_candidates(pool: PoolSpec, machines: list[MachineView], totals: PoolTotals,
                        memory: PoolMemory, now: float) -> Eligible:
    """Machines that may be powered on in pool now."""
    result = Eligible()
    limits = pool.limits
    if limits.max_nodes and totals.active_count >= limits.max_nodes:
        result.blocked = f"pool at maxNodes ({limits.max_nodes})"
    elif recent(memory.power_ons, now) >= pool.scale_up.max_per_minute:
        result.blocked = f"power-on rate limit ({pool.scale_up.max_per_minute}/min)"
    for machine in machines:
        reason = _power_on_exclusion(machine, pool, totals.active_capacity, now)
        if reason:
            result.excluded[machine.name] = reason
        elif not result.blocked:
            result.machines.append(machine)
    return result


def held_reason(machine: MachineView) -> str:
    """Why a machine a person holds is in no pool decision (``bamel explain`` says it)."""
    return f"held {machine.held} by a person (powerState: {machine.held})"


def _power_on_exclusion(machine: MachineView, pool: PoolSpec, active: FloatArray,
                        now: float) -> str | None:
    if machine.quarantined:
        return QUARANTINED
    if machine.held is not None:
        return held_reason(machine)
    if machine.state is MachineState.ERROR and now < machine.backoff_until:
        return (f"backing off after {machine.failures} failure(s) "
                f"until t={machine.backoff_until:.0f}")
    if machine.state not in {MachineState.OFF, MachineState.ERROR}:
        return f"state {machine.state.value}"
    return exceeds_ceiling(machine, pool, active)


def exceeds_ceiling(machine: MachineView, pool: PoolSpec, active: FloatArray) -> str | None:
    """Why adding machine to the active capacity would break a pool ceiling, if it would."""
    for resource, column in CEILINGS:
        ceiling = getattr(pool.limits, resource)
        if ceiling and active[column] + machine.capacity[column] > ceiling:
            return f"would exceed the pool's {resource} ceiling ({ceiling:g})"
    return None


def power_off_candidates(pool: PoolSpec, machines: list[MachineView], totals: PoolTotals,
                         memory: PoolMemory, *, levels: FloatArray, high: FloatArray,
                         now: float, exponent: FloatArray | None = None,
                         floor: FloatArray | None = None) -> Eligible:
    """Machines that may be drained and powered off in pool now.

    floor: (resources,) the ready capacity the pool must keep (``sizing``'s target);
    None: judge headroom by pressure, the level after the removal below ``high``.
    """
    result = Eligible(blocked=_scale_down_block(pool, totals, memory, now))
    reasons = [_power_off_exclusion(machine, pool, now=now) for machine in machines]
    open_ = [index for index, reason in enumerate(reasons) if reason is None]
    candidates = [machines[i] for i in open_]
    headroom = (_headroom_exclusions(candidates, totals.ready, levels=levels, high=high,
                                     exponent=exponent) if floor is None
                else _floor_exclusions(candidates, totals.ready, floor))
    for index, reason in zip(open_, headroom, strict=True):
        reasons[index] = reason
    for machine, reason in zip(machines, reasons, strict=True):
        if reason:
            result.excluded[machine.name] = reason
        elif not result.blocked:
            result.machines.append(machine)
    return result


def _scale_down_block(pool: PoolSpec, totals: PoolTotals, memory: PoolMemory,
                      now: float) -> str | None:
    cooldown = pool.scale_up.cooldown
    if memory.last_scale_up is not None and now - memory.last_scale_up < cooldown:
        return f"cooldown after scale-up ({cooldown:g}s)"
    if totals.in_flight_down >= pool.scale_down.max_concurrent:
        return f"{totals.in_flight_down} drain(s) in flight (maxConcurrent)"
    if recent(memory.power_offs, now) >= pool.scale_down.max_per_minute:
        return f"power-off rate limit ({pool.scale_down.max_per_minute}/min)"
    if totals.active_count - 1 < pool.limits.min_nodes:
        return f"pool at minNodes ({pool.limits.min_nodes})"
    return None


def _power_off_exclusion(machine: MachineView, pool: PoolSpec, *, now: float) -> str | None:
    if machine.quarantined:
        return QUARANTINED
    if machine.held is not None:
        return held_reason(machine)
    if machine.state is not MachineState.READY:
        return f"state {machine.state.value}"
    if machine.scale_down_disabled:
        return "annotated bamel.io/scale-down-disabled"
    if now < machine.backoff_until:
        return f"its drain was refused; not offered again until t={machine.backoff_until:.0f}"
    uptime = now - machine.since
    if uptime < pool.scale_down.min_uptime:
        return f"up {uptime:.0f}s, below minUptime {pool.scale_down.min_uptime:g}s"
    return None


def _headroom_exclusions(machines: list[MachineView], ready: FloatArray, *,
                         levels: FloatArray, high: FloatArray,
                         exponent: FloatArray | None) -> list[str | None]:
    """For each machine, why the others could not take its load, if they could not.

    The level after the removal is level * (ready / remaining) ** exponent, the
    sizing model of ``scoring.pressure``.

    One array operation over all machines (a planning pass may weigh a thousand).
    The pool's last machine is never excluded here: there is no node to move load
    to, so headroom means nothing; the drain refuses it while workload pods run.
    """
    if not machines:
        return []
    remaining = ready - np.array([m.capacity for m in machines], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = ready / np.maximum(remaining, 1e-12)
        if exponent is not None:
            growth = growth ** exponent
        after = np.where(ready > 0, levels * growth, 0.0)
    too_high = (after >= high) & (ready > 0) & (remaining > 0).any(axis=1, keepdims=True)
    reasons: list[str | None] = [None] * len(machines)
    for row in np.flatnonzero(too_high.any(axis=1)):
        column = int(np.flatnonzero(too_high[row])[0])
        reasons[row] = (f"removal would push {RESOURCES[column]} pressure to "
                        f"{after[row, column]:.2f}")
    return reasons


def _floor_exclusions(machines: list[MachineView], ready: FloatArray,
                      floor: FloatArray) -> list[str | None]:
    """For each machine, why the pool would keep too little without it, if it would:
    what stays ready must cover the floor in every resource the pool has. One array
    operation, as in ``_headroom_exclusions``."""
    if not machines:
        return []
    remaining = ready - np.array([m.capacity for m in machines], dtype=np.float64)
    short = (remaining < floor) & (ready > 0)
    reasons: list[str | None] = [None] * len(machines)
    for row in np.flatnonzero(short.any(axis=1)):
        column = int(np.flatnonzero(short[row])[0])
        reasons[row] = (f"removal would leave {RESOURCES[column]} {remaining[row, column]:.4g}"
                        f" ready, below the target {floor[column]:.4g}")
    return reasons
