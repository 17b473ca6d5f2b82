"""Schedules: weekly windows in a time zone that change a pool's rules while open.

People plan around the calendar, not around pressure: the office needs machines
warm at 8 before anyone logs in, a batch night must not lose a node mid-run, a
maintenance window is when machines may go. A window (``ScheduleSpec``) starts on
its days at ``start`` local time and ends at ``end`` (the next day when ``end`` is
not after ``start``); inside it the pool keeps at least its ``minNodes`` on, and
power-off is forbidden (``never``) or allowed only there (``only``).

The planner stays pure: the wall-clock time comes in the Snapshot (``wall``, Unix
seconds), and the next window edge goes out as a wake time, in the planner's clock,
so the reactor plans at the instant a window opens or closes. Instants are compared
as Unix seconds, so a window spans the hours the clock really ran across a
daylight-saving change: a local time the clock skips counts from the instant after
the skip (02:30 on the spring-forward night is 03:30 summer time), and one it
repeats from its first occurrence (``fold=0``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from controller.config.schema import WEEKDAYS, PoolSpec, ScheduleSpec

LOOKAHEAD_DAYS = 8
"""Days searched for the next edge: every weekly window has one within a week."""


@dataclass(frozen=True)
class InForce:
    """What a pool's schedules say at one instant."""

    min_nodes: int
    """The larger of ``limits.minNodes`` and every open window's ``minNodes``."""
    min_from: str | None
    """The open window that raised ``min_nodes``, if one did."""
    power_off_blocked: str | None
    """Why no machine of the pool may be powered off now, if a window says so."""


def in_force(pool: PoolSpec, wall: float | None) -> InForce:
    """The pool's rules at wall (Unix seconds); with no wall time, its limits alone."""
    floor = InForce(pool.limits.min_nodes, None, None)
    if wall is None or not pool.schedules:
        return floor
    open_ = [s for s in pool.schedules if is_open(s, wall)]
    min_nodes, min_from = floor.min_nodes, None
    for schedule in open_:
        if schedule.min_nodes is not None and schedule.min_nodes > min_nodes:
            min_nodes, min_from = schedule.min_nodes, schedule.name
    return InForce(min_nodes, min_from, _power_off_block(pool, open_))


def _power_off_block(pool: PoolSpec, open_: list[ScheduleSpec]) -> str | None:
    never = [s.name for s in open_ if s.power_off == "never"]
    if never:
        return f"power-off not allowed during schedule {', '.join(never)}"
    only = [s.name for s in pool.schedules if s.power_off == "only"]
    if only and not any(s.power_off == "only" for s in open_):
        return f"power-off allowed only during schedule {', '.join(only)}"
    return None


def is_open(schedule: ScheduleSpec, wall: float) -> bool:
    """Whether wall (Unix seconds) falls inside one of the schedule's windows."""
    today = _local_date(schedule, wall)
    return any(start <= wall < end
               for start, end in _windows(schedule, today - timedelta(days=1), days=2))


def next_edge(pool: PoolSpec, wall: float | None) -> float | None:
    """The first instant after wall (Unix seconds) a window of pool opens or closes."""
    if wall is None:
        return None
    edges = [edge for schedule in pool.schedules
             for window in _windows(schedule, _local_date(schedule, wall) - timedelta(days=1),
                                    days=LOOKAHEAD_DAYS)
             for edge in window if edge > wall]
    return min(edges, default=None)


def _windows(schedule: ScheduleSpec, first: date, *, days: int) -> Iterator[tuple[float, float]]:
    """(start, end) in Unix seconds of the windows starting on days from first on."""
    zone = _zone(schedule.time_zone)
    start, end = _clock(schedule.start), _clock(schedule.end)
    for offset in range(days):
        day = first + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in schedule.days:
            continue
        end_day = day + timedelta(days=1) if end <= start else day
        yield _instant(day, start, zone), _instant(end_day, end, zone)


def _instant(day: date, minutes: int, zone: ZoneInfo) -> float:
    """Local minutes past midnight of day as Unix seconds (24:00: the next midnight)."""
    extra, minutes = divmod(minutes, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60),
                             tzinfo=zone)
    return local.timestamp()


def _local_date(schedule: ScheduleSpec, wall: float) -> date:
    return datetime.fromtimestamp(wall, _zone(schedule.time_zone)).date()


def _clock(text: str) -> int:
    """``HH:MM`` (validated) as minutes past midnight."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
