"""What a machine's agent reports is kept with its record, across steps and restarts."""

from __future__ import annotations

import asyncio
import json

from controller.kube.records import record_of, status_of
from controller.machines import MachineRecord, machine_of_node
from controller.planning import Action, ActionKind, MachineState
from tests.controller.test_actuation import CFG, Rig, SlowStore

MACS = ("52:54:00:00:00:01", "52:54:00:00:00:02")


async def test_learnt_macs_are_written_once_and_kept_by_later_steps() -> None:
    rig = Rig(CFG)
    assert rig.actuator.learn("a", MACS)
    assert not rig.actuator.learn("a", MACS)  # the same report again: nothing to write
    assert not rig.actuator.learn("a", ())  # an agent with no NIC found says nothing
    await rig.actuator.persist("a")
    assert rig.store.read()["a"].macs == MACS  # type: ignore[attr-defined]
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending pods"))
    assert rig.records["a"].state is MachineState.READY
    assert rig.store.read()["a"].macs == MACS  # type: ignore[attr-defined]


async def test_a_report_that_arrives_during_a_step_is_not_dropped_by_it() -> None:
    store = SlowStore()
    rig = Rig(CFG, store=store)
    power_on = asyncio.create_task(rig.actuator.execute(
        Action(ActionKind.POWER_ON, "a", "general", "pending pods")))
    await asyncio.sleep(0)  # the powering-on record is being written
    assert rig.actuator.learn("a", MACS)
    store.release.set()
    await power_on
    assert rig.records["a"].state is MachineState.READY
    assert rig.records["a"].macs == MACS
    assert store.read()["a"].macs == MACS


def test_macs_survive_the_state_file_and_the_baremetalnode_status() -> None:
    record = MachineRecord(macs=MACS)
    assert MachineRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    status = json.loads(json.dumps(status_of(record)))
    assert status["macs"] == list(MACS)
    assert record_of({**status, "state": "off"}) == record
    assert status_of(MachineRecord())["macs"] is None


def test_a_report_is_matched_to_its_machine_by_joined_node_then_by_name() -> None:
    records = {"a": MachineRecord(kubernetes_node="worker-7")}
    assert machine_of_node("worker-7", ["a", "b"], records) == "a"
    assert machine_of_node("b", ["a", "b"], records) == "b"
    assert machine_of_node("stranger", ["a", "b"], records) is None
