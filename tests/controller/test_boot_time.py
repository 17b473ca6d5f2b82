"""A machine's boot time is measured, averaged into its record, and used for its timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.config import MachineSpec
from controller.kube.records import record_of, status_of
from controller.machines import BOOT_WEIGHT, FileMachineStore, MachineRecord
from controller.planning import Action, ActionKind, MachineState
from controller.planning.eligibility import join_timeout, join_timeout_for
from tests.controller.test_actuation import CFG, Clock, Rig, ScriptedCluster

CONFIGURED = CFG.machines[0].boot_time
"""Machine a's bootTime: 2m."""


class BootingCluster(ScriptedCluster):
    """The node is Ready ``boot`` clock seconds after the wait begins; keeps each ``within``."""

    def __init__(self, clock: Clock, boot: float) -> None:
        super().__init__()
        self.clock = clock
        self.boot = boot
        self.waits: list[float] = []

    async def await_join(self, machine: MachineSpec, *, within: float) -> str:
        self.waits.append(within)
        self.clock.now += self.boot
        return await super().await_join(machine, within=within)


def booting_rig(records: dict[str, MachineRecord] | None = None, *, boot: float) -> Rig:
    """A rig whose wall clock is its clock, and whose machines boot in ``boot`` seconds."""
    rig = Rig(CFG, records)
    rig.actuator.wall = rig.clock
    rig.cluster = rig.actuator.cluster = BootingCluster(rig.clock, boot)  # type: ignore[assignment]
    return rig


def test_the_average_starts_at_boot_time_and_moves_a_quarter_of_the_way() -> None:
    record = MachineRecord()
    assert record.expected_boot_seconds(CONFIGURED) == 120.0
    once = record.learn_boot(200.0, configured=CONFIGURED)
    assert BOOT_WEIGHT == 0.25
    assert (once.observed_boot_seconds, once.average_boot_seconds) == (200.0, 140.0)
    twice = once.learn_boot(200.0, configured=CONFIGURED)
    assert twice.average_boot_seconds == 155.0
    assert twice.expected_boot_seconds(CONFIGURED) == 155.0
    assert twice.learn_boot(200.0, configured=999.0).average_boot_seconds == 166.25


async def test_a_boot_is_measured_from_the_power_call_to_ready() -> None:
    rig = booting_rig(boot=90.0)
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending pods"))
    record = rig.records["a"]
    assert record.state is MachineState.READY
    assert record.observed_boot_seconds == 90.0
    assert record.average_boot_seconds == 120.0 + 0.25 * (90.0 - 120.0)
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]
    assert rig.cluster.waits == [join_timeout_for(120.0)]  # type: ignore[attr-defined]


async def test_the_join_wait_follows_the_learned_average() -> None:
    rig = booting_rig({"a": MachineRecord(average_boot_seconds=300.0)}, boot=250.0)
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending pods"))
    assert rig.cluster.waits == [600.0]  # type: ignore[attr-defined]
    assert rig.records["a"].average_boot_seconds == 300.0 + 0.25 * (250.0 - 300.0)


async def test_the_planner_sees_the_learned_boot_time_and_aborts_at_its_timeout() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.JOINING, since=1000.0,
                                       average_boot_seconds=300.0)})
    view = next(m for m in rig.reactor.snapshot().machines if m.name == "a")
    assert view.boot_seconds == 300.0
    assert join_timeout(view) == 600.0
    assert rig.reactor.next_deadline() == pytest.approx(1600.001)
    rig.clock.now = 1241.0  # past the timeout of the configured 2m, within the learned one
    assert rig.reactor.plan_once().actions == ()
    rig.clock.now = 1601.0
    result = rig.reactor.plan_once()
    await rig.settle()
    assert (ActionKind.ABORT_BOOT, "a") in [(a.kind, a.machine) for a in result.actions]


async def test_a_boot_under_way_at_a_restart_is_still_measured_from_its_call() -> None:
    joining = MachineRecord(state=MachineState.JOINING, since=990.0, power_action="on",
                            power_driver="fake", power_time=985.0, power_result="ok")
    rig = booting_rig({"a": joining}, boot=30.0)
    await rig.actuator.resume("a")
    assert rig.records["a"].state is MachineState.READY
    assert rig.records["a"].observed_boot_seconds == 1030.0 - 985.0


@pytest.mark.parametrize("call", [
    {"power_action": "off", "power_result": "ok", "power_time": 985.0},
    {"power_action": "on", "power_result": "unreachable", "power_time": 985.0},
    {"power_action": "on", "power_result": "ok", "power_time": 100.0},  # an earlier boot's
], ids=["power-off", "failed", "stale"])
async def test_a_boot_without_its_power_call_in_the_record_is_not_counted(
        call: dict[str, object]) -> None:
    joining = MachineRecord(state=MachineState.POWERING_ON, since=990.0,
                            average_boot_seconds=100.0, observed_boot_seconds=95.0,
                            **call)  # type: ignore[arg-type]
    rig = booting_rig({"a": joining}, boot=30.0)
    await rig.actuator.resume("a")
    record = rig.records["a"]
    assert record.state is MachineState.READY
    assert (record.observed_boot_seconds, record.average_boot_seconds) == (95.0, 100.0)


async def test_the_average_survives_the_state_file_and_the_baremetalnode_status(
        tmp_path: Path) -> None:
    record = MachineRecord(state=MachineState.READY, since=1_790_000_000.0,
                           observed_boot_seconds=90.0, average_boot_seconds=112.5)
    await FileMachineStore(tmp_path / "state.json").put("a", record)
    assert FileMachineStore(tmp_path / "state.json").read()["a"] == record
    status = json.loads(json.dumps(status_of(record)))
    assert status["averageBootSeconds"] == 112.5
    assert record_of(status) == record
    assert status_of(MachineRecord())["averageBootSeconds"] is None
