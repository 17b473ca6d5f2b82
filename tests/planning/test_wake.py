"""When the planner asks to look again: each timer it applies reports its deadline,
and at that deadline the decision it held back is taken."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.planning import (
    ActionKind,
    MachineState,
    Planner,
    PoolMemory,
    PoolSignal,
    Snapshot,
)
from tests.planning.builders import config, machine, plan, powered_on, signal

READY, OFF = MachineState.READY, MachineState.OFF
CFG = config(machines={"base": "small", "mem": "mem-heavy"})


def test_a_pool_inside_its_stabilization_window_wakes_when_the_window_ends() -> None:
    machines = [machine("base", "small", READY), machine("mem", "mem-heavy")]
    pressed = signal(memory=0.9, rates=(0, 0.01, 0))
    held = plan(CFG, machines, pressed, now=1000)
    assert held.actions == ()
    assert held.wake_at == 1000 + 30
    assert held.wakes == {"general": 1030}
    again = plan(CFG, machines, pressed, now=1010, memory=held.memory)
    assert again.wake_at == 1030  # the window started at the first pass, not this one
    assert plan(CFG, machines, pressed, now=1029.999, memory=again.memory).actions == ()
    assert powered_on(plan(CFG, machines, pressed, now=again.wake_at,
                           memory=again.memory)) == ["mem"]


def test_a_pool_with_a_surplus_wakes_when_the_unneeded_time_ends() -> None:
    machines = [machine("base", "small", READY), machine("mem", "mem-heavy", READY)]
    idle = signal(0.05, 0.05, 0.05)
    held = plan(CFG, machines, idle, now=1000)
    assert held.actions == ()
    assert held.wake_at == 1000 + 300
    assert plan(CFG, machines, idle, now=held.wake_at, memory=held.memory).actions != ()


def test_after_a_power_on_the_rate_limit_minute_then_the_join_timeout_wake_the_pool() -> None:
    cfg = config(pool={"scaleUp": {"stabilizationWindow": "0s"}},
                 machines={"base": "small", "mem": "mem-heavy"})
    machines = [machine("base", "small", READY), machine("mem", "mem-heavy")]
    pending = signal(pending=(4, 0), pods=1)
    first = plan(cfg, machines, pending, now=1000)
    assert powered_on(first) == ["mem"]
    assert first.wake_at == 1000 + 60  # the power-on leaves the rate-limit window
    booting = [machines[0], machine("mem", "mem-heavy", MachineState.POWERING_ON, since=1000)]
    later = plan(cfg, booting, pending, now=1061, memory=first.memory)
    assert later.wake_at == pytest.approx(1000 + 240 + 0.001)  # the join timeout, strictly past
    assert plan(cfg, booting, pending, now=later.wake_at - 0.002,
                memory=later.memory).actions == ()
    late = plan(cfg, booting, pending, now=later.wake_at, memory=later.memory)
    assert [(a.kind, a.machine) for a in late.actions] == [(ActionKind.ABORT_BOOT, "mem")]


def test_machines_just_chosen_are_woken_for_as_the_next_snapshot_will_show_them() -> None:
    machines = [machine("base", "small", READY), machine("mem", "mem-heavy")]
    first = plan(CFG, machines, signal(pending=(4, 0), pods=1), now=1000)
    started = machines[1].starting(ActionKind.POWER_ON, 1000)
    assert (started.state, started.since) == (MachineState.POWERING_ON, 1000)
    following = Snapshot(now=1000, config=CFG, machines=(machines[0], started), signals={},
                         memory=first.memory)
    assert Planner(CFG).wake_at(following) == first.wakes


def test_an_action_shows_its_machine_on_its_way_only_from_a_state_it_acts_on() -> None:
    off, ready = machine("a", "small"), machine("b", "small", READY)
    assert off.starting(ActionKind.POWER_OFF, 5.0) is off
    assert ready.starting(ActionKind.POWER_ON, 5.0) is ready
    assert ready.starting(ActionKind.POWER_OFF, 5.0).state is MachineState.DRAINING
    joining = machine("c", "small", MachineState.JOINING, since=1.0)
    assert joining.starting(ActionKind.ABORT_BOOT, 5.0) is joining


def test_cooldown_backoff_and_min_uptime_each_wake_the_pool() -> None:
    steady = signal(0.4, 0.4, 0.4)
    cooling = plan(CFG, [machine("base", "small", READY)], steady, now=1000,
                   memory={"general": PoolMemory(last_scale_up=900)})
    assert cooling.wake_at == 900 + 600
    backing_off = plan(CFG, [machine("base", "small", READY),
                             machine("mem", "mem-heavy", MachineState.ERROR, since=990,
                                     failures=1, backoff_until=1100)], steady, now=1000)
    assert backing_off.wake_at == 1100
    young = plan(CFG, [machine("base", "small", READY, since=950)], steady, now=1000)
    assert young.wake_at == 950 + 600


def test_pending_requests_set_aside_after_a_join_count_when_the_settle_ends() -> None:
    machines = [machine("base", "small", READY, since=995), machine("mem", "mem-heavy")]
    pending = signal(pending=(4, 0), pods=1)
    held = plan(CFG, machines, pending, now=1000)
    assert held.actions == ()
    assert held.wake_at == 995 + 10
    assert powered_on(plan(CFG, machines, pending, now=held.wake_at,
                           memory=held.memory)) == ["mem"]


def test_a_planner_without_settle_counts_pending_requests_at_once() -> None:
    machines = (machine("base", "small", READY, since=995), machine("mem", "mem-heavy"))
    result = Planner(CFG, join_settle=0.0).plan(Snapshot(
        now=1000, config=CFG, machines=machines,
        signals={"general": signal(pending=(4, 0), pods=1)}))
    assert powered_on(result) == ["mem"]


def test_a_silent_pool_is_taken_at_its_target_level_with_no_trend() -> None:
    machines = [machine("base", "small", READY), machine("mem", "mem-heavy", READY)]
    quiet = signal(rates=(-0.01, -0.01, -0.01))
    record = plan(CFG, machines, quiet, now=1000).records[0]
    assert record.levels["cpu"] == 0.0  # heard from and idle: a surplus
    assert "unneeded" in record.reason
    unheard = PoolSignal(np.zeros(4), np.array([-0.01, -0.01, -0.01, 0.0]), np.zeros(4),
                         unheard=np.array([True, True, True, False]))
    silent = plan(CFG, machines, unheard, now=1000).records[0]
    assert silent.levels == {"cpu": 0.4, "memory": 0.4, "network": 0.4, "gpu": 0.0}
    assert silent.rates == dict.fromkeys(("cpu", "memory", "network", "gpu"), 0.0)
    assert silent.reason == "pressure within thresholds"


def test_a_quiet_pool_with_no_timer_running_never_wakes() -> None:
    result = plan(CFG, [machine("base", "small", READY), machine("mem", "mem-heavy")],
                  signal(0.4, 0.4, 0.4), now=1000)
    assert result.wake_at == math.inf
    assert result.wakes == {"general": math.inf}


def test_only_planned_pools_report_a_wake_time() -> None:
    snapshot = Snapshot(now=1000, config=CFG, machines=(), signals={},
                        memory={"general": PoolMemory(last_scale_up=900)}, pools=frozenset())
    result = Planner(CFG).plan(snapshot)
    assert (result.wakes, result.wake_at) == ({}, math.inf)
    assert Planner(CFG).wake_at(snapshot) == {}


def test_the_wake_time_of_a_state_is_the_one_a_pass_over_it_reports() -> None:
    machines = (machine("base", "small", READY, since=950),
                machine("mem", "mem-heavy", MachineState.JOINING, since=990))
    memory = {"general": PoolMemory(power_offs=(980,))}
    snapshot = Snapshot(now=1000, config=CFG, machines=machines,
                        signals={"general": signal(0.4, 0.4, 0.4)}, memory=memory)
    result = Planner(CFG).plan(snapshot)
    assert result.actions == ()
    assert Planner(CFG).wake_at(snapshot) == result.wakes == {"general": 980 + 60}
