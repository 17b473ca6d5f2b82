"""A controller killed between any two steps of an action, then restarted, finishes the
action and never repeats a power call.

The store dies at a chosen record write, before or after the write is durable, as a
SIGKILL would leave it; a second actuator and reactor (the restarted controller) then
start from what the store holds, against the same machine (the fake driver keeps its
power state and every call it received). Every write of a power-off and of a
power-on is tried, so no moment of a kill is left out.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controller.machines import MachineRecord, MemoryMachineStore
from controller.planning import Action, ActionKind, MachineState
from controller.power import PowerState
from tests.controller.test_actuation import CFG, Rig
from tests.power.fakes import FakeDriver


class Killed(BaseException):
    """The process died here (a BaseException, as nothing in actuation may catch it)."""


class DyingStore(MemoryMachineStore):
    """Dies at the ``at``-th write, ``after`` it is durable or before."""

    def __init__(self, records: dict[str, MachineRecord], *, at: int, after: bool) -> None:
        super().__init__(records)
        self.at = at
        self.after = after
        self.writes = 0

    async def put(self, name: str, record: MachineRecord) -> None:
        self.writes += 1
        if self.writes == self.at and not self.after:
            raise Killed
        await super().put(name, record)
        if self.writes == self.at:
            raise Killed


READY = {"a": MachineRecord(state=MachineState.READY, since=0.0, kubernetes_node="node-a",
                            power_state="on", power_action="on", power_result="ok")}
POWER_OFF_WRITES = 4
"""draining, powering-off, the call's result, off."""
POWER_ON_WRITES = 4
"""powering-on, the call's result, joining, ready."""


async def _run_until_killed(rig: Rig, action: Action) -> None:
    with contextlib.suppress(Killed):
        await rig.actuator.execute(action)


async def _restart(store: MemoryMachineStore, driver: FakeDriver) -> Rig:
    """A new controller over the same store and machine; its reactor runs until idle."""
    rig = Rig(CFG, store=MemoryMachineStore(store.read()))
    rig.actuator.off_settle = 0.05
    rig.drivers["a"] = driver
    task = asyncio.create_task(rig.reactor.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.005)
            record = rig.records.get("a", MachineRecord())
            if not rig.reactor._tasks and not record.state.in_flight_down:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rig.reactor.close()
    return rig


def _sent(driver: FakeDriver) -> list[str]:
    """The power commands the machine received (status reads are not commands)."""
    return [operation for operation, _ in driver.calls if operation != "status"]


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
@pytest.mark.parametrize("at", range(1, POWER_OFF_WRITES + 1))
async def test_a_power_off_killed_at_any_step_ends_off_with_one_command(
    at: int, after: bool,
) -> None:
    driver = FakeDriver(machine="a", state=PowerState.ON)
    store = DyingStore(READY, at=at, after=after)
    first = Rig(CFG, store=store)
    first.drivers["a"] = driver
    await _run_until_killed(first, Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    interrupted = store.read()["a"].state

    rig = await _restart(store, driver)

    record = rig.records["a"]
    assert _sent(driver) in ([], ["off"])
    if _sent(driver):  # the power-off went out before the kill: the record says so now
        assert (record.state, record.power_state, driver.state) == (
            MachineState.OFF, "off", PowerState.OFF), interrupted
    elif interrupted is MachineState.POWERING_OFF:
        # recorded as under way but never sent: the machine is still on, and goes back
        # in service through its Node, never with a second try at the power-off
        assert (record.state, record.power_state) == (MachineState.READY, "on"), record
        assert "not repeated" in record.last_error
        assert rig.cluster.joined == ["a"]
    elif interrupted is MachineState.DRAINING:  # the drain is done again, then the power-off
        assert record.state is MachineState.OFF, record
        assert rig.cluster.drained == ["node-a"]
    else:  # killed before anything was recorded: nothing happened, the planner decides again
        assert (interrupted, record.state) == (MachineState.READY, MachineState.READY)
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]


async def test_a_machine_left_powering_off_with_its_chassis_off_is_recorded_off() -> None:
    """The state the chaos run found: the power-off reached the BMC, the controller died
    before recording off; the restarted controller must not leave it powering-off."""
    driver = FakeDriver(machine="a", state=PowerState.OFF)
    driver.calls.append(("off", "a"))  # the first controller's command
    store = MemoryMachineStore({"a": MachineRecord(
        state=MachineState.POWERING_OFF, since=990.0, kubernetes_node="node-a",
        power_state="on", power_action="on", power_result="ok", last_action="power-off")})

    rig = await _restart(store, driver)

    record = rig.records["a"]
    assert (record.state, record.power_state, record.kubernetes_node) == (
        MachineState.OFF, "off", "")
    assert _sent(driver) == ["off"]


async def test_a_drain_killed_then_refused_after_the_restart_puts_the_node_back() -> None:
    store = MemoryMachineStore({"a": MachineRecord(
        state=MachineState.DRAINING, since=990.0, kubernetes_node="node-a",
        power_state="on", last_action="drain")})
    driver = FakeDriver(machine="a", state=PowerState.ON)
    rig = Rig(CFG, store=MemoryMachineStore(store.read()))
    rig.drivers["a"] = driver
    rig.cluster.refuse_drain = True
    await rig.actuator.resume("a")
    assert rig.records["a"].state is MachineState.READY
    assert rig.cluster.restored == ["node-a"]  # the cordon the first drain left is lifted
    assert _sent(driver) == []


async def test_an_unreadable_power_state_trusts_an_acknowledged_call_else_the_node() -> None:
    acknowledged = MachineRecord(state=MachineState.POWERING_OFF, since=990.0,
                                 power_action="off", power_result="ok")
    unknown = MachineRecord(state=MachineState.POWERING_OFF, since=990.0,
                            power_action="on", power_result="ok")
    for record, node_alive, expected in ((acknowledged, True, MachineState.OFF),
                                         (unknown, True, MachineState.READY),
                                         (unknown, False, MachineState.OFF)):
        driver = FakeDriver(machine="a", state=PowerState.ON)
        driver.failures["status"] = _unsupported()
        rig = Rig(CFG, store=MemoryMachineStore({"a": record}))
        rig.actuator.off_settle = 0.05
        rig.cluster.never_join = not node_alive
        rig.drivers["a"] = driver
        await rig.actuator.resume("a")
        assert rig.records["a"].state is expected
        assert _sent(driver) == []


async def test_a_machine_still_on_whose_node_is_not_ready_is_held_in_error() -> None:
    driver = FakeDriver(machine="a", state=PowerState.ON)
    rig = Rig(CFG, store=MemoryMachineStore({"a": MachineRecord(
        state=MachineState.POWERING_OFF, since=990.0, power_action="on", power_result="ok")}))
    rig.actuator.off_settle = 0.05
    rig.cluster.never_join = True
    rig.drivers["a"] = driver
    await rig.actuator.resume("a")
    assert rig.records["a"].state is MachineState.ERROR
    assert "not repeated" in rig.records["a"].last_error
    assert _sent(driver) == []


def _unsupported() -> Exception:
    from controller.power import PowerError
    return PowerError("SSH cannot read power state", category="unsupported",
                      driver="ssh", machine="a")


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
@pytest.mark.parametrize("at", range(1, POWER_ON_WRITES + 1))
async def test_a_power_on_killed_at_any_step_is_never_sent_twice(at: int, after: bool) -> None:
    driver = FakeDriver(machine="a", state=PowerState.OFF)
    store = DyingStore({}, at=at, after=after)
    first = Rig(CFG, store=store)
    first.drivers["a"] = driver
    await _run_until_killed(first, Action(ActionKind.POWER_ON, "a", "general", "pending"))

    rig = await _restart(store, driver)

    assert _sent(driver) in ([], ["on"])
    state = rig.records["a"].state if "a" in rig.records else MachineState.OFF
    assert state in (MachineState.READY, MachineState.OFF)
