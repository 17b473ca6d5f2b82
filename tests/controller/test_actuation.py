"""Actuation and the reactor with a recording power driver and a scripted cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.actuation import Actuator
from controller.config import AutoscalerConfig, MachineSpec
from controller.ingest import PressureStore
from controller.machines import FileMachineStore, MachineRecord, MemoryMachineStore
from controller.metrics import ControllerMetrics
from controller.planning import Action, ActionKind, MachineState, PoolMemory
from controller.power import MachinePower, PowerError
from controller.reactor import Reactor
from tests.planning.builders import config
from tests.power.fakes import FakeDriver
from wire import PressureSample


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedCluster:
    """Joins after ``join_delay`` unless told to never join; drains unless refused."""

    def __init__(self) -> None:
        self.joined: list[str] = []
        self.drained: list[str] = []
        self.restored: list[str] = []
        self.refuse_drain = False
        self.never_join = False

    async def await_join(self, machine: MachineSpec, *, within: float) -> str:
        if self.never_join:
            await asyncio.sleep(within)
            raise TimeoutError(f"{machine.name} not Ready")
        self.joined.append(machine.name)
        return f"node-{machine.name}"

    async def drain(self, machine: MachineSpec, *, node: str) -> None:
        if self.refuse_drain:
            raise RuntimeError("PodDisruptionBudget allows no eviction")
        self.drained.append(node)

    async def restore(self, machine: MachineSpec, *, node: str) -> None:
        self.restored.append(node)


class Rig:
    def __init__(self, cfg: AutoscalerConfig, records: dict[str, MachineRecord] | None = None,
                 *, dry_run: bool = False, store: object = None) -> None:
        self.clock = Clock()
        self.drivers: dict[str, FakeDriver] = {}
        self.cluster = ScriptedCluster()
        self.store = store or MemoryMachineStore(records)
        self.records = self.store.read()  # type: ignore[attr-defined]
        self.metrics = ControllerMetrics()
        self.actuator = Actuator(config=cfg, store=self.store, records=self.records,  # type: ignore[arg-type]
                                 power_for=self.power_for, cluster=self.cluster,
                                 clock=self.clock, metrics=self.metrics, dry_run=dry_run)
        self.reactor = Reactor(config=cfg, actuator=self.actuator, records=self.records,
                               pressure=PressureStore(), metrics=self.metrics, clock=self.clock)

    async def power_for(self, spec: MachineSpec) -> MachinePower:
        driver = self.drivers.setdefault(spec.name, FakeDriver(machine=spec.name))
        return MachinePower(spec.name, on_driver=driver, off_driver=driver)

    def calls(self, name: str) -> list[str]:
        driver = self.drivers.get(name)
        return [op for op, _ in driver.calls] if driver else []

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        await asyncio.gather(*self.reactor._tasks)


CFG = config(machines={"a": "small", "b": "mem-heavy"})


async def test_power_on_moves_through_joining_to_ready() -> None:
    rig = Rig(CFG)
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending pods"))
    record = rig.records["a"]
    assert record.state is MachineState.READY
    assert record.kubernetes_node == "node-a"
    assert rig.calls("a") == ["on"]
    assert rig.metrics.power_actions.labels("fake", "on", "ok")._value.get() == 1


async def test_bmc_failure_leaves_a_recorded_error_and_backoff() -> None:
    rig = Rig(CFG)
    driver = rig.drivers["a"] = FakeDriver(machine="a")
    driver.failures["on"] = PowerError("BMC did not answer", category="unreachable",
                                       driver="fake", machine="a")
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "pending pods"))
    record = rig.records["a"]
    assert record.state is MachineState.ERROR
    assert "did not answer" in record.last_error
    assert record.failures == 1
    assert record.backoff_until == 1060.0
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]


async def test_power_on_in_flight_is_never_repeated_after_a_restart(tmp_path: Path) -> None:
    store = FileMachineStore(tmp_path / "state.json")
    await store.put("a", MachineRecord(state=MachineState.POWERING_ON, since=990.0))
    rig = Rig(CFG, store=FileMachineStore(tmp_path / "state.json"))
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    result = rig.reactor.plan_once()
    assert result.actions == ()  # capacity already on its way
    await rig.actuator.execute(Action(ActionKind.POWER_ON, "a", "general", "again"))
    await rig.actuator.resume("a")
    assert rig.calls("a") == []
    assert rig.records["a"].state is MachineState.READY
    assert FileMachineStore(tmp_path / "state.json").read()["a"].state is MachineState.READY


async def test_dry_run_changes_nothing() -> None:
    rig = Rig(CFG, dry_run=True)
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    result = rig.reactor.plan_once()
    await rig.settle()
    assert [a.machine for a in result.actions] == ["a"]
    assert rig.calls("a") == []
    assert "a" not in rig.records


async def test_refused_drain_puts_the_machine_back_in_service() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a")})
    rig.cluster.refuse_drain = True
    await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    record = rig.records["a"]
    assert record.state is MachineState.READY
    assert "PodDisruptionBudget" in record.last_error
    assert rig.calls("a") == []


async def test_drain_then_power_off() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a")})
    await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    assert rig.cluster.drained == ["node-a"]
    assert rig.calls("a") == ["off"]
    assert rig.records["a"].state is MachineState.OFF


async def test_two_power_offs_started_at_once_move_the_machine_once(tmp_path: Path) -> None:
    """The planner's and a deleted BareMetalNode's power-off can start together; the
    state file's write leaves the loop, so both would read ``ready`` before either wrote
    ``draining`` if the check were not taken under the machine's lock."""
    store = FileMachineStore(tmp_path / "state.json")
    await store.put("a", MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a"))
    rig = Rig(CFG, store=FileMachineStore(tmp_path / "state.json"))
    await asyncio.gather(*(rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general",
                                                       why)) for why in ("held off", "deleted")))
    assert rig.cluster.drained == ["node-a"]
    assert rig.calls("a") == ["off"]
    assert rig.records["a"].state is MachineState.OFF


async def test_reactor_aborts_a_machine_that_never_joins_and_picks_the_next() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.JOINING, since=1000.0)})
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    assert rig.reactor.next_deadline() == pytest.approx(1240.001)
    rig.clock.now = 1241.0
    result = rig.reactor.plan_once()
    await rig.settle()
    assert [(a.kind, a.machine) for a in result.actions] == [
        (ActionKind.ABORT_BOOT, "a"), (ActionKind.POWER_ON, "b")]
    assert rig.records["a"].state is MachineState.ERROR
    assert rig.records["a"].failures == 1
    assert rig.calls("a") == ["force-off"]
    assert rig.calls("b") == ["on"]


async def test_reactor_sleeps_until_an_event_when_nothing_is_pending() -> None:
    rig = Rig(CFG)
    rig.reactor.plan_once()
    assert rig.reactor.next_deadline() == float("inf")
    task = asyncio.create_task(rig.reactor.run())
    await asyncio.sleep(0.01)
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if rig.calls("a"):
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await rig.reactor.close()
    assert rig.calls("a") == ["on"]


async def test_pending_pods_wait_for_the_scheduler_after_a_join() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=995.0,
                                       kubernetes_node="node-a")})
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    held = rig.reactor.plan_once()
    assert held.actions == ()  # a joined 5 s ago: the scheduler may still place the pod
    assert rig.reactor.next_deadline() == 995.0 + 10.0
    rig.clock.now = 1006.0
    assert [a.machine for a in rig.reactor.plan_once().actions] == ["b"]


async def test_what_happened_before_the_reactor_ran_is_planned_at_once() -> None:
    rig = Rig(CFG)
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)  # before run(): a wake to keep
    task = asyncio.create_task(rig.reactor.run())
    try:
        for _ in range(50):
            await asyncio.sleep(0)
        assert rig.calls("a") == ["on"] or rig.calls("b") == ["on"]
    finally:
        task.cancel()
        await rig.reactor.close()


class SlowStore(MemoryMachineStore):
    """Holds every write until released: a slow API server."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def put(self, name: str, record: MachineRecord) -> None:
        await self.release.wait()
        await super().put(name, record)


async def test_a_pass_before_the_first_record_is_written_does_not_choose_again() -> None:
    store = SlowStore()
    rig = Rig(config(pool={"scaleUp": {"batch": 1}}, machines={"a": "small"}), store=store)
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    first = rig.reactor.plan_once()
    await asyncio.sleep(0)  # the action has started and waits on the store
    second = rig.reactor.plan_once()
    assert [a.machine for a in first.actions] == ["a"]
    assert second.actions == ()
    assert len(rig.reactor.memory["general"].power_ons) == 1
    store.release.set()
    await rig.settle()
    assert rig.calls("a") == ["on"]


async def test_no_scale_down_while_pods_are_pending_in_the_pool() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=0.0),
                    "b": MachineRecord(state=MachineState.READY, since=0.0)})
    rig.reactor.memory = {"general": PoolMemory(wants_down_since=0.0)}
    for node in ("a", "b"):
        idle = dict.fromkeys(("cpu", "memory", "network"), 0.05)
        falling = dict.fromkeys(("cpu", "memory", "network"), -0.01)
        rig.reactor.pressure.update(PressureSample(
            node=node, boot_id="x", macs=(), timestamp=0.0, seq=1, interval=1.0,
            levels=idle, rates=falling, sources=dict.fromkeys(idle, "psi")), now=rig.clock())
    rig.reactor.set_pending("general", {}, pods=1)  # a pod without requests
    held = rig.reactor.plan_once()
    assert held.actions == ()
    assert "1 pod(s) pending" in held.records[0].reason


async def test_pods_waiting_for_the_scheduler_after_a_join_hold_scale_down() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=995.0),
                    "b": MachineRecord(state=MachineState.READY, since=0.0)})
    rig.reactor.memory = {"general": PoolMemory(wants_down_since=0.0)}
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=2)
    held = rig.reactor.plan_once()
    assert held.actions == ()
    assert rig.reactor.snapshot().signals["general"].pending_pods == 2


async def test_a_pass_plans_only_the_pools_an_event_touched() -> None:
    rig = Rig(CFG)
    assert [r.pool for r in rig.reactor.plan_once({"general"}).records] == ["general"]
    assert rig.reactor.plan_once(set()).records == ()
    rig.reactor.wake_for_node("not-in-the-inventory")
    assert not rig.reactor._wake.is_set()  # a stranger's crossing concerns no pool
    rig.reactor.wake_for_node("a")
    assert rig.reactor._wake.is_set()


async def test_a_joining_machine_no_longer_configured_is_left_alone_after_a_restart() -> None:
    rig = Rig(CFG, {"gone": MachineRecord(state=MachineState.JOINING, since=990.0)})
    await rig.actuator.resume("gone")
    assert rig.cluster.joined == []
    assert rig.records["gone"].state is MachineState.JOINING


async def test_refused_drains_back_off_doubling_and_a_drain_that_succeeds_clears_the_count(
        ) -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a")})
    rig.cluster.refuse_drain = True
    waits = []
    for _ in range(2):
        await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
        record = rig.records["a"]
        waits.append(record.backoff_until - rig.clock.now)
    assert waits == [60.0, 120.0]
    assert record.drain_refusals == 2 and record.since == 0.0  # uptime kept
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]
    rig.cluster.refuse_drain = False
    await rig.actuator.execute(Action(ActionKind.POWER_OFF, "a", "general", "idle"))
    assert rig.records["a"].state is MachineState.OFF
    assert rig.records["a"].drain_refusals == 0
