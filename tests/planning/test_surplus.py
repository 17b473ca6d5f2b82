"""Scale-down needs a surplus in every resource: a machine leaves with all of them."""

from __future__ import annotations

from controller.config import AutoscalerConfig
from controller.planning import MachineState, MachineView, PoolMemory
from tests.planning.builders import config, machine, plan, powered_off, signal

READY = MachineState.READY
# builders.config: unneededTime 5m; schema thresholds: levelLow 0.2, levelHigh 0.6.


def _idle_pool() -> tuple[AutoscalerConfig, list[MachineView]]:
    """Three small machines, Ready long enough to be past minUptime."""
    names = ("a", "b", "c")
    return (config(machines=dict.fromkeys(names, "small")),
            [machine(name, "small", READY, since=0) for name in names])


def test_a_resource_between_the_thresholds_holds_the_pool() -> None:
    # Memory is relaxed (it nearly always is), cpu sits between levelLow and levelHigh:
    # no machine has a surplus to give, however long memory has been idle.
    cfg, machines = _idle_pool()
    result = plan(cfg, machines, signal(cpu=0.3, memory=0.0), now=5000,
                  memory={"general": PoolMemory(wants_down_since=0.0)})
    assert powered_off(result) == []
    record = result.records[0]
    assert record.direction is None
    assert record.reason == "no surplus: cpu pressure above levelLow"
    assert result.memory["general"].wants_down_since is None


def test_every_resource_relaxed_offers_a_machine() -> None:
    cfg, machines = _idle_pool()
    result = plan(cfg, machines, signal(cpu=0.15, memory=0.0), now=5000,
                  memory={"general": PoolMemory(wants_down_since=0.0)})
    assert len(powered_off(result)) == 1


def test_the_unneeded_time_counts_from_when_every_resource_is_relaxed() -> None:
    cfg, machines = _idle_pool()
    busy = plan(cfg, machines, signal(cpu=0.3), now=5000)
    relaxed = plan(cfg, machines, signal(cpu=0.1), now=5100, memory=busy.memory)
    assert relaxed.memory["general"].wants_down_since == 5100
    early = plan(cfg, machines, signal(cpu=0.1), now=5399, memory=relaxed.memory)
    assert powered_off(early) == []
    assert "unneeded 299s of 300s" in early.records[0].reason
    due = plan(cfg, machines, signal(cpu=0.1), now=5400, memory=early.memory)
    assert len(powered_off(due)) == 1


def test_a_convex_pressure_model_keeps_the_last_two_machines() -> None:
    # Two machines at cpu level 0.2 (levelLow). Taking pressure as proportional to
    # load per machine, one can go (the other reaches 0.4 < levelHigh 0.6); taking it
    # as utilisation ** 6, the survivor would reach 0.2 * 2 ** 6 = 12.8: both stay.
    names = ("a", "b")
    machines = [machine(name, "small", READY, since=0) for name in names]
    relaxed = {"general": PoolMemory(wants_down_since=0.0)}
    linear = config(machines=dict.fromkeys(names, "small"))
    assert len(powered_off(plan(linear, machines, signal(cpu=0.2), now=5000,
                                memory=relaxed))) == 1
    convex = config(machines=dict.fromkeys(names, "small"),
                    scoring={"thresholds": {"exponent": 6}})
    kept = plan(convex, machines, signal(cpu=0.2), now=5000, memory=relaxed)
    assert powered_off(kept) == []
    assert kept.records[0].excluded["a"] == "removal would push cpu pressure to 12.80"
