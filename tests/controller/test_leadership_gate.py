"""A replica that no longer leads sends no power command; the step stays recorded for
the next leader, which resumes it without sending the command either. A join that meets
an unanswering API server waits on instead of giving up."""

from __future__ import annotations

import pytest

from controller import actuation
from controller.config import MachineSpec
from controller.kube.errors import KubeUnavailable
from controller.leadership import NotLeader
from controller.machines import MachineRecord, MemoryMachineStore
from controller.planning import Action, ActionKind, MachineState
from controller.power import PowerState
from tests.controller.test_actuation import CFG, Rig, ScriptedCluster
from tests.power.fakes import FakeDriver

READY = MachineRecord(state=MachineState.READY, since=0.0, kubernetes_node="node-a",
                      power_state="on", power_action="on", power_result="ok")


class Gate:
    """Leads until ``lose()``: what ``LeaderElector.still_leading`` answers."""

    def __init__(self) -> None:
        self.leading = True
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.leading


def _rig(records: dict[str, MachineRecord], gate: Gate, driver: FakeDriver) -> Rig:
    rig = Rig(CFG, store=MemoryMachineStore(records))
    rig.actuator.still_leading = gate
    rig.drivers["a"] = driver
    return rig


def _sent(driver: FakeDriver) -> list[str]:
    return [operation for operation, _ in driver.calls if operation != "status"]


async def test_a_power_on_after_leadership_is_lost_is_not_sent_and_stays_recorded() -> None:
    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.OFF)
    rig = _rig({}, gate, driver)
    gate.leading = False
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending"))
    assert _sent(driver) == [] and gate.asked == 1
    assert rig.store.read()["a"].state is MachineState.POWERING_ON  # type: ignore[attr-defined]

    successor = _rig(rig.store.read(), Gate(), driver)  # type: ignore[attr-defined]
    await successor.actuator.resume("a")
    assert _sent(driver) == []  # resumed as a boot that may be in flight: waited for


async def test_a_power_off_after_leadership_is_lost_is_not_sent_nor_repeated() -> None:
    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.ON)
    rig = _rig({"a": READY}, gate, driver)

    class LosesDuringDrain(ScriptedCluster):
        async def drain(self, machine: MachineSpec, *, node: str) -> None:
            gate.leading = False  # the Lease could not be renewed while evicting
            self.drained.append(node)

    rig.actuator.cluster = LosesDuringDrain()
    await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    assert _sent(driver) == []
    assert rig.store.read()["a"].state is MachineState.POWERING_OFF  # type: ignore[attr-defined]

    successor = _rig(rig.store.read(), Gate(), driver)  # type: ignore[attr-defined]
    successor.actuator.off_settle = 0.05
    await successor.actuator.resume("a")
    assert _sent(driver) == []  # settled from its power and Node, never sent again
    assert successor.records["a"].state is MachineState.READY


async def test_a_drain_stopped_by_lost_leadership_is_left_draining_not_refused() -> None:
    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.ON)
    rig = _rig({"a": READY}, gate, driver)

    class DrainerGated(ScriptedCluster):
        async def drain(self, machine: MachineSpec, *, node: str) -> None:
            raise NotLeader("not leader any more: the eviction of ns/p not sent")

    rig.actuator.cluster = DrainerGated()
    await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    record = rig.store.read()["a"]  # type: ignore[attr-defined]
    assert record.state is MachineState.DRAINING and record.drain_refusals == 0
    assert rig.actuator.cluster.restored == [] and _sent(driver) == []


async def test_a_join_waits_through_an_unanswering_api_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actuation, "JOIN_RETRY", 0.01)
    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.OFF)
    rig = _rig({}, gate, driver)

    class Unanswered(ScriptedCluster):
        failures = 3

        async def await_join(self, machine: MachineSpec, *, within: float) -> str:
            if self.failures:
                self.failures -= 1
                raise KubeUnavailable("GET /api/v1/nodes/a: connection refused")
            return await super().await_join(machine, within=within)

    rig.actuator.cluster = Unanswered()
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending"))
    assert rig.records["a"].state is MachineState.READY
    assert _sent(driver) == ["on"]


class FlakyStore(MemoryMachineStore):
    """The API server behind the records is down for the first ``down`` writes."""

    def __init__(self, down: int) -> None:
        super().__init__({})
        self.down = down

    async def put(self, name: str, record: MachineRecord) -> None:
        if self.down:
            self.down -= 1
            raise KubeUnavailable("PATCH baremetalnodes/a/status: connection refused")
        await super().put(name, record)


async def test_a_record_write_is_tried_again_while_leading_then_left_to_the_next_leader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actuation, "WRITE_RETRY", (0.01, 0.01))
    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.OFF)
    rig = _rig({}, gate, driver)
    rig.actuator.store = FlakyStore(down=3)  # the power-on's first record waits it out
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending"))
    assert rig.records["a"].state is MachineState.READY and _sent(driver) == ["on"]

    gate, driver = Gate(), FakeDriver(machine="a", state=PowerState.OFF)
    rig = _rig({}, gate, driver)
    store = rig.actuator.store = FlakyStore(down=1000)
    gate.leading = False  # the writes fail until the Lease is gone
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending"))
    assert _sent(driver) == [] and store.read() == {} and store.down == 999
