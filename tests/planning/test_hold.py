"""A person's override (``powerState``): the planner brings a held-on machine on, a
held-off one off, and keeps held machines out of every pool decision, saying why."""

from __future__ import annotations

import dataclasses

from controller.planning import ActionKind, MachineState
from tests.planning.builders import config, machine, plan, powered_on, signal

CFG = config(pool={"scaleUp": {"stabilizationWindow": "0s"},
                   "scaleDown": {"unneededTime": "0s", "minUptime": "0s"}},
             machines={"a": "small", "b": "small"})


def test_a_machine_held_off_is_not_powered_on_under_pressure_and_explain_says_so() -> None:
    held = dataclasses.replace(machine("a", "small"), held="off")
    result = plan(CFG, [held], signal(pending=(4.0, 2**30), pods=2))
    assert powered_on(result) == []
    assert result.records[0].excluded == {"a": "held off by a person (powerState: off)"}


def test_a_machine_held_off_that_is_on_is_drained_and_powered_off_even_under_pressure() -> None:
    held = dataclasses.replace(machine("a", "small", MachineState.READY), held="off")
    other = machine("b", "small", MachineState.READY)
    result = plan(CFG, [held, other], signal(cpu=0.9, memory=0.5), now=5000.0)
    assert [(a.kind, a.machine, a.reason) for a in result.actions
            if a.machine == "a"] == [(ActionKind.POWER_OFF, "a", "held off (powerState: off)")]
    assert result.records[0].excluded["a"] == "held off by a person (powerState: off)"


def test_a_held_off_machine_whose_drain_was_refused_waits_for_its_backoff() -> None:
    refused = dataclasses.replace(machine("a", "small", MachineState.READY,
                                          backoff_until=5060.0), held="off")
    assert plan(CFG, [refused], signal(), now=5000.0).actions == ()
    later = plan(CFG, [refused], signal(), now=5061.0)
    assert [(a.kind, a.machine) for a in later.actions] == [(ActionKind.POWER_OFF, "a")]


def test_a_quarantined_held_machine_is_not_moved() -> None:
    for state, held in ((MachineState.READY, "off"), (MachineState.OFF, "on")):
        quarantined = dataclasses.replace(machine("a", "small", state), held=held,
                                          quarantined=True)
        assert plan(CFG, [quarantined], signal(), now=5000.0).actions == ()


def test_a_machine_held_on_is_powered_on_without_pressure_and_never_off() -> None:
    held = dataclasses.replace(machine("a", "small"), held="on")
    result = plan(CFG, [held], signal())
    assert [(a.kind, a.machine, a.reason) for a in result.actions] == [
        (ActionKind.POWER_ON, "a", "held on (powerState: on)")]
    running = dataclasses.replace(held, state=MachineState.READY)
    idle = plan(CFG, [running, machine("b", "small", MachineState.READY)],
                signal(cpu=0.01, memory=0.01), now=5000.0)
    assert "a" not in [action.machine for action in idle.actions]


def test_a_held_on_machine_backing_off_waits_for_its_backoff() -> None:
    failed = dataclasses.replace(machine("a", "small", MachineState.ERROR, failures=1,
                                         backoff_until=1060.0), held="on")
    assert plan(CFG, [failed], signal(), now=1000.0).actions == ()
    assert powered_on(plan(CFG, [failed], signal(), now=1061.0)) == ["a"]
