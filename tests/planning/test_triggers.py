"""PromQL triggers as a planning rule: a firing ``up`` trigger asks for one more machine
within every limit, a firing ``down`` trigger allows one fewer within every rule, one
step at a time; pending or failed triggers ask for nothing."""

from __future__ import annotations

from typing import Any

from bamel.commands.explain import render
from controller.config import AutoscalerConfig
from controller.metrics import reason_kind
from controller.planning import MachineState, MachineView, Planner, PlanResult, PoolMemory, Snapshot
from controller.planning.triggers import TriggerFact, TriggerState
from tests.planning.builders import config, machine, powered_off, powered_on, signal

READY, OFF, POWERING_ON = MachineState.READY, MachineState.OFF, MachineState.POWERING_ON
NOW = 10_000.0
MACHINES = {"a": "small", "b": "small", "c": "cpu-heavy"}


def fact(direction: str = "up", state: TriggerState = TriggerState.FIRING, *,
         value: float | None = 12.0, name: str = "queue", error: str = "") -> TriggerFact:
    past = state in (TriggerState.FIRING, TriggerState.PENDING)
    return TriggerFact(name, direction, state, value, 10.0,
                       "above" if direction == "up" else "below", 120.0,
                       past_since=NOW - 150.0 if past else None, error=error)


def plan(cfg: AutoscalerConfig, machines: list[MachineView], facts: tuple[TriggerFact, ...],
         *, level: float = 0.4, memory: PoolMemory | None = None) -> PlanResult:
    snapshot = Snapshot(now=NOW, config=cfg, machines=tuple(machines),
                        signals={"general": signal(cpu=level, memory=level)},
                        memory={"general": memory or PoolMemory()},
                        triggers={"general": facts})
    return Planner(cfg).plan(snapshot)


def pool(**overrides: Any) -> AutoscalerConfig:
    return config(pool=overrides, machines=MACHINES)


def test_a_firing_up_trigger_powers_on_one_machine_and_the_reason_names_it() -> None:
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    result = plan(pool(scaleUp={"batch": 3}), machines, (fact(),))
    assert powered_on(result) == ["b"]  # one machine, the one that fits one step best
    record = result.records[0]
    assert record.reason == "trigger queue (up): 12 above 10 for 2m30s (duration 2m)"
    assert reason_kind(record.reason) == "trigger"
    assert record.triggers["queue"]["caused"] is True
    assert record.as_dict()["triggers"] == record.triggers
    assert render(record.as_dict()).splitlines()[1] == (
        "  trigger queue (up): 12 above 10 for 2m30s (duration 2m) [firing] — made this "
        "decision")


def test_an_up_trigger_obeys_max_nodes_and_the_rate_limit() -> None:
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    result = plan(pool(limits={"maxNodes": 1}), machines, (fact(),))
    assert powered_on(result) == []
    assert result.records[0].reason.endswith("; pool at maxNodes (1)")
    limited = PoolMemory(power_ons=(NOW - 10.0, NOW - 20.0))
    result = plan(pool(scaleUp={"maxPerMinute": 2}), machines, (fact(),), memory=limited)
    assert powered_on(result) == []
    assert result.records[0].reason.endswith("; power-on rate limit (2/min)")


def test_one_step_at_a_time_then_the_duration_after_the_join() -> None:
    on_its_way = [machine("a", "small", READY), machine("b", "small", POWERING_ON, since=NOW - 5),
                  machine("c", "cpu-heavy")]
    result = plan(pool(), on_its_way, (fact(),))
    assert powered_on(result) == []
    assert result.records[0].reason.endswith("; b is on its way up")
    joined = [machine("a", "small", READY), machine("b", "small", READY, since=NOW - 30),
              machine("c", "cpu-heavy")]
    result = plan(pool(), joined, (fact(),))
    assert powered_on(result) == []
    assert result.records[0].reason.endswith(
        "; the last machine joined 30s ago; the query gets 2m to show it")
    assert result.wake_at == NOW - 30 + 120  # when the step may be asked again


def test_pending_and_failed_triggers_ask_for_nothing_and_say_so() -> None:
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    for state, error in ((TriggerState.PENDING, ""), (TriggerState.OK, ""),
                         (TriggerState.ERROR, "the value is NaN")):
        value = None if state is TriggerState.ERROR else 12.0
        result = plan(pool(), machines, (fact(state=state, value=value, error=error),))
        assert result.actions == ()
        shown = result.records[0].triggers["queue"]
        assert (shown["state"], shown["caused"]) == (state.value, False)
    assert shown["says"] == "trigger queue (up): error: the value is NaN"


def test_a_firing_down_trigger_powers_off_one_machine_through_the_scale_down_rules() -> None:
    machines = [machine("a", "small", READY, since=0.0), machine("b", "small", READY, since=0.0),
                machine("c", "cpu-heavy")]
    down = fact("down", value=2.0)
    result = plan(pool(), machines, (down,), level=0.1)
    assert len(powered_off(result)) == 1
    assert result.records[0].reason.startswith("trigger queue (down): 2 below 10")
    held = plan(pool(limits={"minNodes": 2}), machines, (down,), level=0.1)
    assert powered_off(held) == []
    assert held.records[0].reason.endswith("; pool at minNodes (2)")
    cooling = plan(pool(), machines, (down,), level=0.1,
                   memory=PoolMemory(last_scale_up=NOW - 60.0))
    assert powered_off(cooling) == []
    assert cooling.records[0].reason.endswith("; cooldown after scale-up (600s)")
    young = [machine("a", "small", READY, since=NOW - 60.0),
             machine("b", "small", READY, since=NOW - 60.0), machine("c", "cpu-heavy")]
    result = plan(pool(), young, (down,), level=0.1)
    assert powered_off(result) == []
    assert result.records[0].excluded["a"] == "up 60s, below minUptime 600s"


def test_pressure_that_asks_for_a_machine_wins_over_a_down_trigger() -> None:
    machines = [machine("a", "small", READY, since=0.0), machine("b", "small"),
                machine("c", "cpu-heavy")]
    memory = PoolMemory(wants_up_since=NOW - 60.0)
    result = plan(pool(), machines, (fact("down", value=2.0),), level=0.9, memory=memory)
    assert powered_on(result) != []
    assert result.records[0].triggers["queue"]["caused"] is False


def test_pending_pods_keep_a_down_trigger_from_powering_off() -> None:
    machines = [machine("a", "small", READY, since=0.0), machine("b", "small", READY, since=0.0),
                machine("c", "cpu-heavy")]
    snapshot = Snapshot(now=NOW, config=pool(), machines=tuple(machines),
                        signals={"general": signal(cpu=0.1, memory=0.1, pending=(1.0, 0.0),
                                                   pods=1)},
                        triggers={"general": (fact("down", value=2.0),)})
    result = Planner(pool()).plan(snapshot)
    assert powered_off(result) == []
    assert result.records[0].triggers["queue"]["caused"] is False


def test_a_firing_up_trigger_keeps_low_pressure_from_powering_off() -> None:
    machines = [machine("a", "small", READY, since=0.0), machine("b", "small", READY, since=0.0),
                machine("c", "cpu-heavy")]
    memory = PoolMemory(wants_down_since=0.0)
    without = plan(pool(), machines, (), level=0.05, memory=memory)
    assert len(powered_off(without)) == 1
    result = plan(pool(), machines, (fact(),), level=0.05, memory=memory)
    assert powered_off(result) == []
    assert powered_on(result) == ["c"]


def test_without_triggers_a_record_has_none() -> None:
    machines = [machine("a", "small", READY), machine("b", "small")]
    result = plan(config(machines={"a": "small", "b": "small"}), machines, ())
    assert result.records[0].triggers == {}
    assert "triggers" not in result.records[0].as_dict()
