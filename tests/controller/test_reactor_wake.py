"""The reactor sleeps until the planner's wake_at, for every pool, even when a pass
planned only some of them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from controller.actuation import Actuator
from controller.config import AutoscalerConfig, MachineSpec, load_config_text
from controller.config.loading import dump_yaml
from controller.ingest import PressureStore
from controller.machines import MachineRecord, MemoryMachineStore
from controller.metrics import ControllerMetrics
from controller.planning import MachineState, PlanResult, Snapshot
from controller.power import MachinePower
from controller.reactor import Reactor
from tests.controller.test_actuation import Clock, ScriptedCluster
from tests.planning.builders import config
from tests.power.fakes import FakeDriver
from wire import PressureSample

WINDOW = 0.3
"""Seconds of stabilization: long enough to tell a timed wake from an immediate one."""


class LoopClock:
    """The event loop's own time, so the planner's deadlines and the reactor's sleep
    are measured on one clock."""

    def __call__(self) -> float:
        return asyncio.get_running_loop().time()


class RecordingReactor(Reactor):
    """The reactor, keeping each pass: its snapshot's time, which pools, what it decided."""

    passes: list[tuple[float, set[str] | None, PlanResult]]

    def snapshot(self, pools: set[str] | None = None) -> Snapshot:
        taken = super().snapshot(pools)
        self.taken_at = taken.now
        return taken

    def plan_once(self, pools: set[str] | None = None) -> PlanResult:
        result = super().plan_once(pools)
        self.passes.append((self.taken_at, None if pools is None else set(pools), result))
        return result


def two_pools() -> AutoscalerConfig:
    """Pool "general" (a Ready node "base" and a spare "mem") and pool "other" (a spare)."""
    document = config(pool={"scaleUp": {"stabilizationWindow": WINDOW}},
                      machines={"base": "small", "mem": "mem-heavy", "spare": "small"}
                      ).model_dump(by_alias=True, mode="json")
    document["pools"].append({**document["pools"][0], "name": "other"})
    document["machines"][2]["pool"] = "other"
    return load_config_text(dump_yaml(document))


def reactor(cfg: AutoscalerConfig, clock: LoopClock | Clock) -> tuple[RecordingReactor,
                                                                      dict[str, FakeDriver]]:
    """A reactor over cfg whose "base" is Ready and under memory pressure."""
    parts = base_parts(cfg, clock, levels=(0.3, 0.9, 0.1), rates=(0.0, 0.01, 0.0))
    planning = RecordingReactor(config=cfg, actuator=parts.actuator,
                                records=parts.actuator.records, pressure=parts.pressure,
                                metrics=parts.metrics, clock=clock)
    planning.passes = []
    return planning, parts.drivers


@dataclasses.dataclass
class Parts:
    """What a reactor is built over: an actuator with recording drivers, and pressure."""

    actuator: Actuator
    pressure: PressureStore
    metrics: ControllerMetrics
    drivers: dict[str, FakeDriver]


def base_parts(cfg: AutoscalerConfig, clock: Callable[[], float], *,
               levels: tuple[float, float, float],
               rates: tuple[float, float, float]) -> Parts:
    """Machine "base" Ready for an hour, its node reporting levels and rates (cpu,
    memory, network); every other machine off."""
    records = {"base": MachineRecord(state=MachineState.READY, since=clock() - 3600,
                                     kubernetes_node="node-base")}
    drivers: dict[str, FakeDriver] = {}

    async def power_for(spec: MachineSpec) -> MachinePower:
        driver = drivers.setdefault(spec.name, FakeDriver(machine=spec.name))
        return MachinePower(spec.name, on_driver=driver, off_driver=driver)

    store = MemoryMachineStore(records)
    metrics = ControllerMetrics()
    actuator = Actuator(config=cfg, store=store, records=store.read(), power_for=power_for,
                        cluster=ScriptedCluster(), clock=clock, metrics=metrics)
    pressure = PressureStore()
    names = ("cpu", "memory", "network")
    pressure.update(PressureSample(
        node="node-base", boot_id="x", macs=(), timestamp=0.0, seq=1, interval=60.0,
        levels=dict(zip(names, levels, strict=True)), rates=dict(zip(names, rates, strict=True)),
        sources=dict.fromkeys(names, "psi")), now=clock())
    return Parts(actuator, pressure, metrics, drivers)


async def until_powered(drivers: dict[str, FakeDriver], name: str) -> None:
    for _ in range(500):
        if name in drivers and drivers[name].calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} was never powered on")


async def test_the_deadline_it_sleeps_until_is_the_planners_wake_at() -> None:
    clock = Clock()
    planning, _ = reactor(two_pools(), clock)
    result = planning.plan_once()
    assert result.wake_at == 1000.0 + WINDOW
    assert planning.next_deadline() == result.wake_at
    clock.now = 1000.1
    assert planning.plan_once({"other"}).wake_at == float("inf")
    assert planning.next_deadline() == 1000.0 + WINDOW  # "general" was not planned again


async def test_it_wakes_at_the_end_of_a_window_and_not_before() -> None:
    planning, drivers = reactor(two_pools(), LoopClock())
    task = asyncio.create_task(planning.run())
    try:
        await until_powered(drivers, "mem")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await planning.close()
    (started, pools, first), *others = planning.passes
    assert pools is None and first.actions == ()
    assert first.wake_at == started + WINDOW
    acted = next(at for at, _, result in others if result.actions)
    assert acted >= first.wake_at
    assert all(at >= first.wake_at - 0.001 for at, _, _ in others)  # no pass in between


async def test_a_pool_keeps_its_wake_time_while_an_event_plans_another() -> None:
    planning, drivers = reactor(two_pools(), LoopClock())
    task = asyncio.create_task(planning.run())
    try:
        await asyncio.sleep(WINDOW / 3)
        planning.set_pending("other", {}, pods=0)  # plans "other" alone
        await until_powered(drivers, "mem")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await planning.close()
    (started, _, first), (_, touched, _), *_ = planning.passes
    assert touched == {"other"}
    acted, pools = next((at, pools) for at, pools, result in planning.passes if result.actions)
    assert pools is None  # a deadline: every pool planned
    assert first.wake_at <= acted < started + 10 * WINDOW
