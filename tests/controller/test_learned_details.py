"""What a machine's agent reports is kept with its record, across steps and restarts."""

from __future__ import annotations

import asyncio
import json

from controller.kube.records import record_of, status_of
from controller.machines import MachineRecord, MemoryMachineStore, machine_of_node
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


class HeldJoin:
    """A cluster whose node joins only when the test says so."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def await_join(self, machine: object, *, within: float) -> str:
        self.waiting.set()
        await self.gate.wait()
        return "node-a"


class LateLearnedWrites(SlowStore):
    """Holds the write of a joining record with MACs (the agent's report) until
    released, and lets every other write through: the API server answering two
    writes in the other order."""

    async def put(self, name: str, record: MachineRecord) -> None:
        if record.macs and record.state is MachineState.JOINING:
            await self.release.wait()
        await MemoryMachineStore.put(self, name, record)


async def test_a_report_written_during_the_join_does_not_overwrite_the_ready_record() -> None:
    store = LateLearnedWrites()
    rig = Rig(CFG, store=store)
    cluster = rig.actuator.cluster = HeldJoin()  # type: ignore[assignment]
    power_on = asyncio.create_task(rig.actuator.execute(
        Action(ActionKind.POWER_ON, "a", "general", "pending pods")))
    await cluster.waiting.wait()  # the joining record is written
    assert rig.actuator.learn("a", MACS)
    persist = asyncio.create_task(rig.actuator.persist("a"))
    await asyncio.sleep(0)  # the report's write is in flight
    cluster.gate.set()  # the node joins: the ready record is written next
    for _ in range(5):
        await asyncio.sleep(0)
    store.release.set()
    await asyncio.gather(power_on, persist)
    assert store.read()["a"].state is MachineState.READY
    assert store.read()["a"].macs == MACS
    assert rig.records["a"] == store.read()["a"]


def test_what_a_node_reported_survives_the_state_file_and_the_baremetalnode_status() -> None:
    record = MachineRecord().with_node_facts(
        {"cpu": 3.5, "memory": 8 * 2**30 - 1, "nvidia.com/gpu": 1.0}, {"disk": "nvme"})
    assert MachineRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    status = json.loads(json.dumps(status_of(record)))
    assert {"key": "disk", "value": "nvme"} in status["nodeLabels"]
    assert record_of({**status, "state": "off"}) == record


def test_a_node_report_is_written_once_and_kept_by_later_steps() -> None:
    rig = Rig(CFG)
    assert rig.actuator.learn_node("a", {"cpu": 7.5}, {"disk": "nvme"})
    assert not rig.actuator.learn_node("a", {"cpu": 7.5}, {"disk": "nvme"})
    assert rig.actuator.learn_node("a", {"cpu": 7.5}, {})  # a label removed is forgotten
    assert rig.records["a"].node_labels == ()
