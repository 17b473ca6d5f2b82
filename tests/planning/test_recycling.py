"""Recycling: a machine up past maxUptime is swapped for one off longer, the
replacement first, the old one off only once the replacement is Ready."""

from __future__ import annotations

from typing import Any

from controller.config import AutoscalerConfig
from controller.metrics import reason_kind
from controller.planning import (
    MachineState,
    MachineView,
    Planner,
    PlanResult,
    PoolMemory,
    Snapshot,
)
from tests.planning.builders import config, machine, plan, powered_off, powered_on, signal

READY, OFF = MachineState.READY, MachineState.OFF
POWERING_ON, ERROR = MachineState.POWERING_ON, MachineState.ERROR
DAY = 86_400.0
NOW = 30 * DAY


def recycled(**pool: Any) -> AutoscalerConfig:
    scale_down = {"maxUptime": "168h", **pool.pop("scaleDown", {})}
    return config(pool={"scaleDown": scale_down, **pool},
                  machines={"a": "small", "b": "small", "c": "cpu-heavy"})


def steady(cfg: AutoscalerConfig, machines: list[MachineView], *, level: float = 0.3,
           memory: PoolMemory | None = None, now: float = NOW) -> PlanResult:
    return plan(cfg, machines, signal(cpu=level, memory=level), now=now,
                memory={"general": memory or PoolMemory()})


UP_8D = machine("a", "small", READY, since=NOW - 8 * DAY)


def test_max_uptime_is_a_duration_off_by_default() -> None:
    assert recycled().pools[0].scale_down.max_uptime == 7 * DAY
    assert config().pools[0].scale_down.max_uptime == 0
    machines = [UP_8D, machine("b", "small", OFF, since=NOW - 10 * DAY)]
    assert steady(config(machines={"a": "small", "b": "small"}), machines).actions == ()


def test_a_machine_past_max_uptime_is_replaced_by_the_one_off_longest_first() -> None:
    machines = [UP_8D, machine("b", "small", OFF, since=NOW - 9 * DAY),
                machine("c", "cpu-heavy", OFF, since=NOW - 20 * DAY)]
    result = steady(recycled(), machines)
    assert powered_on(result) == ["c"]
    assert powered_off(result) == []
    reason = result.records[0].reason
    assert reason == ("recycling: a up 192h past maxUptime 168h; c, off 480h, "
                      "takes its place")
    assert reason_kind(reason) == "recycling"
    assert result.memory["general"].rotating == ("a", "c")


def test_only_a_machine_off_longer_with_as_much_capacity_takes_the_place() -> None:
    big = recycled()
    machines = [machine("c", "cpu-heavy", READY, since=NOW - 8 * DAY),
                machine("a", "small", OFF, since=NOW - 20 * DAY),  # too small
                machine("b", "small", OFF, since=NOW - 2 * DAY)]
    result = steady(big, machines)
    assert result.actions == ()
    assert result.records[0].reason.endswith(
        "; recycling: c up 192h past maxUptime 168h; no machine off longer can take its place")
    machines = [UP_8D, machine("b", "small", OFF, since=NOW - 2 * DAY)]  # off 2 days only
    assert steady(big, machines).actions == ()


def test_the_old_machine_goes_only_once_its_replacement_is_ready() -> None:
    rotating = PoolMemory(rotating=("a", "b"))
    booting = [UP_8D, machine("b", "small", POWERING_ON, since=NOW - 60)]
    waiting = steady(recycled(), booting, memory=rotating)
    assert waiting.actions == ()
    assert waiting.records[0].reason.endswith("; recycling: a waits for b to be Ready")
    assert waiting.memory["general"].rotating == ("a", "b")
    ready = [UP_8D, machine("b", "small", READY, since=NOW - 30)]
    # Level 0.1 on two machines is 0.2 on one: the headroom rule lets a go.
    done = steady(recycled(scaleDown={"minUptime": "0s"}), ready, memory=rotating, level=0.1)
    assert powered_off(done) == ["a"]
    assert done.records[0].reason == "recycling: b is Ready in place of a, up 192h"
    assert done.memory["general"].rotating is None


def test_a_failed_replacement_ends_the_rotation() -> None:
    failed = [UP_8D, machine("b", "small", ERROR, since=NOW - 30, backoff_until=NOW + 60)]
    result = steady(recycled(), failed, memory=PoolMemory(rotating=("a", "b")))
    assert result.actions == ()
    assert result.memory["general"].rotating is None


def test_every_other_rule_still_applies() -> None:
    machines = [UP_8D, machine("b", "small", OFF, since=NOW - 10 * DAY)]
    # A pool that wants capacity gets it first; a pool at maxNodes powers nothing on.
    assert steady(recycled(), machines, level=0.9).memory["general"].rotating is None
    assert steady(recycled(limits={"maxNodes": 1}), machines).actions == ()
    # A schedule forbidding power-off starts no rotation.
    never = recycled(schedules=[{"name": "freeze", "start": "00:00", "end": "24:00",
                                 "powerOff": "never"}])
    snapshot = Snapshot(now=NOW, config=never, machines=tuple(machines),
                        signals={"general": signal(cpu=0.3, memory=0.3)}, wall=NOW)
    assert Planner(never).plan(snapshot).actions == ()
    # Warm capacity keeps the old machine on while the new one would not cover it.
    ready = [UP_8D, machine("b", "small", READY, since=NOW - 30)]
    warm = recycled(spare={"cpu": 10}, scaleDown={"minUptime": "0s"})
    held = steady(warm, ready, level=0.05, memory=PoolMemory(rotating=("a", "b")))
    assert powered_off(held) == []
    assert "; recycling: a stays on: warm capacity: cpu 7.2, " in held.records[0].reason


def test_the_planner_wakes_when_a_machine_reaches_max_uptime() -> None:
    young = machine("a", "small", READY, since=NOW - 6 * DAY)
    result = steady(recycled(scaleDown={"minUptime": "0s"}), [young])
    assert result.wakes["general"] == NOW + DAY
