"""Schedules, warm capacity and recycling through the reactor and the actuator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bamel.commands.explain import render
from controller.machines import MachineRecord
from controller.metrics import reason_kind
from controller.planning import MachineState
from controller.planning.constraints import SchedulingView
from controller.planning.scaledown import NodeState
from controller.planning.templates import template_for_machine
from tests.controller.test_actuation import Rig
from tests.planning.builders import config
from tests.planning.scheduling import pod


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_office_hours_power_machines_on_when_the_window_opens() -> None:
    cfg = config(pool={"schedules": [{
        "name": "office-hours", "timeZone": "Europe/Berlin", "days": ["Mon", "Tue", "Wed",
                                                                      "Thu", "Fri"],
        "start": "08:00", "end": "18:00", "minNodes": 1}]},
        machines={"a": "small", "b": "mem-heavy"})
    rig = Rig(cfg)
    monday_8 = datetime(2026, 3, 30, 6, 0, tzinfo=UTC).timestamp()  # 08:00 CEST
    wall = rig.reactor.wall_clock = WallClock(monday_8 - 90)
    assert rig.reactor.plan_once().actions == ()
    assert rig.reactor.next_deadline() == rig.clock.now + 90  # the reactor sleeps until 08:00
    rig.clock.now += 90
    wall.now += 90
    result = rig.reactor.plan_once()
    assert [a.machine for a in result.actions] == ["a"]
    assert result.records[0].reason == "below minNodes (1, schedule office-hours)"
    await rig.settle()
    assert rig.calls("a") == ["on"]
    assert rig.records["a"].state is MachineState.READY


def test_a_power_off_held_by_a_schedule_is_counted_as_such() -> None:
    assert reason_kind("levels low; power-off not allowed during schedule batch-night") == \
        "schedule"
    assert reason_kind("below minNodes (1, schedule office-hours)") == "min-nodes"


async def test_warm_capacity_powers_a_machine_on_and_counts_it_once_ready() -> None:
    cfg = config(pool={"spare": {"cpu": 4}}, machines={"a": "small", "b": "mem-heavy"})
    rig = Rig(cfg, {"a": MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a")})
    node_a = template_for_machine(cfg.machines[0], cfg.pools[0], node_name="node-a")
    rig.reactor.see_cluster(
        lambda: SchedulingView(nodes=(NodeState(node_a, (pod("web", cpu=6),)),)),
        lambda pool, pods: None)
    result = rig.reactor.plan_once()  # 8 cores, 6 requested: 2 free of 4
    assert [a.machine for a in result.actions] == ["b"]
    assert result.records[0].reason.startswith("warm capacity: cpu 2, ")
    await rig.settle()
    assert rig.calls("b") == ["on"]
    assert rig.records["b"].state is MachineState.READY
    # Ready before the view shows its Node: counted as an empty node of its template.
    assert rig.reactor.plan_once().actions == ()


async def test_recycling_powers_the_replacement_on_then_the_old_machine_off() -> None:
    day = 86_400.0
    cfg = config(pool={"scaleDown": {"maxUptime": "168h"}},
                 machines={"a": "small", "b": "cpu-heavy"})
    rig = Rig(cfg, {"a": MachineRecord(state=MachineState.READY, since=1000.0 - 8 * day,
                                       kubernetes_node="node-a"),
                    "b": MachineRecord(state=MachineState.OFF, since=1000.0 - 10 * day)})
    first = rig.reactor.plan_once()  # no agent heard: the pool is at its target level
    assert [(a.kind.value, a.machine) for a in first.actions] == [("power-on", "b")]
    assert first.records[0].reason.startswith("recycling: a up 192h past maxUptime 168h")
    await rig.settle()
    assert rig.records["b"].state is MachineState.READY
    assert rig.records["a"].state is MachineState.READY  # capacity never drops
    second = rig.reactor.plan_once()
    assert [(a.kind.value, a.machine) for a in second.actions] == [("power-off", "a")]
    await rig.settle()
    assert rig.calls("a") == ["off"]
    assert rig.records["a"].state is MachineState.OFF
    assert rig.reactor.memory["general"].rotating is None


def _rig_with_node_a(pods: tuple[Any, ...]) -> Rig:
    day = 86_400.0
    cfg = config(pool={"spare": {"cpu": 4}, "scaleDown": {"maxUptime": "168h"}},
                 machines={"a": "small", "b": "cpu-heavy"})
    rig = Rig(cfg, {"a": MachineRecord(state=MachineState.READY, since=1000.0 - 8 * day,
                                       kubernetes_node="node-a"),
                    "b": MachineRecord(state=MachineState.OFF, since=1000.0 - 10 * day)})
    node_a = template_for_machine(cfg.machines[0], cfg.pools[0], node_name="node-a")
    rig.reactor.see_cluster(lambda: SchedulingView(nodes=(NodeState(node_a, pods),)),
                            lambda pool, pods: None)
    return rig


async def test_bamel_explain_shows_warm_capacity_and_recycling_as_the_reason() -> None:
    short = _rig_with_node_a((pod("web", cpu=6),))  # 2 cores free of the 4 kept
    warm = render(short.reactor.plan_once().records[0].as_dict())
    assert warm.startswith("[general] power-on: b — warm capacity: cpu 2, ")
    await short.settle()
    warm_enough = _rig_with_node_a(())
    rotation = render(warm_enough.reactor.plan_once().records[0].as_dict())
    assert rotation.startswith("[general] power-on: b — recycling: a up 192h past maxUptime")
    await warm_enough.settle()
