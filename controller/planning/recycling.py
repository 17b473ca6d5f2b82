"""Recycling: rotate out a machine that has been up too long, so wear and updates
spread over the fleet.

Scaling by pressure keeps the same few machines on for months (the scorer prefers
the efficient ones, and a steady load never lets them go) while the rest sit off:
the busy ones wear out, miss the kernel and firmware that a reboot would bring, and
the idle ones are never proven to boot. With ``scaleDown.maxUptime`` a machine up
longer, every other rule allowing, is swapped for one that has been off longer than
it has been up: the replacement is powered on first, and the old machine is drained
and powered off only once the replacement is Ready, so capacity never drops.

One rotation at a time per pool, remembered in ``PoolMemory.rotating``; the planner
starts and finishes it only in a pass that has nothing else to do and does not
want capacity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from controller.config import PoolSpec
from controller.config.units import format_duration
from controller.planning.snapshot import MachineState, MachineView


@dataclass(frozen=True)
class Swap:
    """A rotation to start: power ``replacement`` on to take ``old``'s place."""

    old: MachineView
    replacement: MachineView

    def reason(self, pool: PoolSpec, now: float) -> str:
        return (f"recycling: {self.old.name} up {_age(self.old, now)} past maxUptime "
                f"{format_duration(pool.scale_down.max_uptime)}; {self.replacement.name}, "
                f"off {_age(self.replacement, now)}, takes its place")


def overdue(pool: PoolSpec, machines: list[MachineView], now: float) -> list[MachineView]:
    """Ready machines up maxUptime or longer, longest first (none when it is 0)."""
    limit = pool.scale_down.max_uptime
    if not limit:
        return []
    late = [m for m in machines if m.state is MachineState.READY and now - m.since >= limit]
    return sorted(late, key=lambda m: m.since)


def swap_for(old: list[MachineView], candidates: list[MachineView]) -> Swap | None:
    """The first overdue machine that a machine off longer than it has been up, with at
    least its capacity on every resource, can replace; the one off longest does."""
    for machine in old:
        able = [c for c in candidates if c.state is MachineState.OFF and c.since < machine.since
                and bool(np.all(c.capacity >= machine.capacity))]
        if able:
            return Swap(machine, min(able, key=lambda c: c.since))
    return None


def wake_times(pool: PoolSpec, machines: list[MachineView]) -> Iterator[float]:
    """When each Ready machine reaches maxUptime."""
    if pool.scale_down.max_uptime:
        for machine in machines:
            if machine.state is MachineState.READY:
                yield machine.since + pool.scale_down.max_uptime


def finished(old: MachineView, replacement: str, now: float) -> str:
    return f"recycling: {replacement} is Ready in place of {old.name}, up {_age(old, now)}"


def no_swap(pool: PoolSpec, old: MachineView, now: float) -> str:
    return (f"recycling: {old.name} up {_age(old, now)} past maxUptime "
            f"{format_duration(pool.scale_down.max_uptime)}; no machine off longer can "
            f"take its place")


def _age(machine: MachineView, now: float) -> str:
    return format_duration(round(now - machine.since))
