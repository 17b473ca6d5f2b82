"""PromQL triggers as a planning rule: a firing ``up`` trigger asks for one more
machine, a firing ``down`` trigger allows one fewer.

The controller's evaluator (``controller.evaluator``) asks Prometheus and keeps each
trigger's state; the snapshot carries that state as facts (``TriggerFact``), so the
planner stays pure and the rule has one owner, here. What a trigger may do:

- ``up`` firing: one machine more, through every limit a power-on obeys (maxNodes,
  ceilings, rate limit, backoff). A firing ``up`` trigger also keeps the pool from
  powering a machine off on low pressure: the two would contradict each other.
- ``down`` firing: one machine fewer, through every rule a power-off obeys (minNodes,
  minUptime, cooldown, maxConcurrent, rate limit, schedules, warm capacity, the
  scale-down simulation), unless pressure or pending pods ask for a machine.

One step at a time: while a machine of the pool is on its way (up or down), and for
the trigger's ``duration`` after the last one arrived (joined, or went off), a firing
trigger asks for nothing more: the query's value needs that long to show what the
step changed, or one slow metric would power on the whole pool. ``wake_times`` says
when that wait ends. A trigger in ``error`` (a failed query, no series, NaN) or
``pending`` (past its threshold for less than its duration) asks for nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from controller.config.units import format_duration
from controller.planning.snapshot import MachineState, MachineView


class TriggerState(enum.Enum):
    OK = "ok"
    """Not past the threshold."""
    PENDING = "pending"
    """Past the threshold for less than the duration."""
    FIRING = "firing"
    """Past the threshold, at every evaluation, for the duration."""
    ERROR = "error"
    """No usable value: the query failed, found no series, several, or NaN."""


@dataclass(frozen=True)
class TriggerFact:
    """One trigger's state at its last evaluation, as the planner needs it."""

    name: str
    direction: str
    """``up`` or ``down``."""
    state: TriggerState
    value: float | None
    """The last value; None when the last evaluation gave none."""
    threshold: float
    comparison: str
    """``above`` or ``below``: which side of the threshold is past it."""
    duration: float
    past_since: float | None = None
    """When the value went past the threshold (clock seconds), while it is past."""
    error: str = ""
    """Why there is no value, in ``error``."""

    def describe(self, now: float) -> str:
        """What ``bamel explain`` and the decision's reason say of the trigger."""
        if self.state is TriggerState.ERROR:
            return f"trigger {self.name} ({self.direction}): error: {self.error}"
        value = "no value" if self.value is None else f"{self.value:g}"
        text = f"trigger {self.name} ({self.direction}): {value}"
        if self.past_since is None:
            side = "not " + self.comparison
            return f"{text} {side} {self.threshold:g}"
        held = format_duration(max(round(now - self.past_since), 0))
        return (f"{text} {self.comparison} {self.threshold:g} for {held} "
                f"(duration {format_duration(self.duration)})")


@dataclass(frozen=True)
class Asked:
    """What a pool's firing triggers ask in a pass."""

    direction: str
    """``up`` or ``down``."""
    fact: TriggerFact
    waiting: str | None = None
    """Why the step waits (a machine on its way, the duration after the last step)."""


def asked(facts: Sequence[TriggerFact], machines: Sequence[MachineView],
          now: float) -> Asked | None:
    """The step the pool's firing triggers ask for, ``up`` before ``down``; None when
    none fires."""
    for direction in ("up", "down"):
        fact = next((f for f in facts if f.direction == direction
                     and f.state is TriggerState.FIRING), None)
        if fact is not None:
            return Asked(direction, fact, _waiting(direction, fact, machines, now))
    return None


def _waiting(direction: str, fact: TriggerFact, machines: Sequence[MachineView],
             now: float) -> str | None:
    moving = [m.name for m in machines
              if (m.state.in_flight_up if direction == "up" else m.state.in_flight_down)]
    if moving:
        return f"{moving[0]} is on its way {'up' if direction == 'up' else 'off'}"
    last = _last_step(direction, machines)
    if last is not None and now < last + fact.duration:
        arrived = "joined" if direction == "up" else "went off"
        return (f"the last machine {arrived} {now - last:.0f}s ago; the query gets "
                f"{format_duration(fact.duration)} to show it")
    return None


def _last_step(direction: str, machines: Sequence[MachineView]) -> float | None:
    """When the pool's newest machine joined (``up``) or went off (``down``)."""
    state = MachineState.READY if direction == "up" else MachineState.OFF
    return max((m.since for m in machines if m.state is state), default=None)


def wake_times(facts: Sequence[TriggerFact], machines: Sequence[MachineView]) -> Iterator[float]:
    """When a firing trigger's wait after the last step ends (past ones included)."""
    for fact in facts:
        if fact.state is TriggerState.FIRING:
            last = _last_step(fact.direction, machines)
            if last is not None:
                yield last + fact.duration


def explain(facts: Sequence[TriggerFact], now: float, *,
            cause: str | None) -> dict[str, dict[str, object]]:
    """Each trigger's state for the decision record, and whether it made the decision."""
    return {fact.name: {"direction": fact.direction, "state": fact.state.value,
                        "value": fact.value, "says": fact.describe(now),
                        "caused": fact.name == cause}
            for fact in facts}
