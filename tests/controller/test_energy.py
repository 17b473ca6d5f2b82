"""The energy meter's arithmetic on an injected clock: joules are watts × seconds exactly,
a state change ends the old draw at once, a BMC reading stands only for the state it
was read in, a slow BMC never holds up a step, and totals continue after a restart."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from controller.config import (
    AutoscalerConfig,
    ConfigError,
    MachineSpec,
    load_config,
    load_config_text,
)
from controller.config.loading import dump_yaml
from controller.energy import EnergyMeter, Totals, energy_status
from controller.kube.records import record_of, status_of
from controller.machines import FileMachineStore, MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState
from controller.power import MachinePower, PowerError
from tests.planning.builders import config
from tests.power.fakes import FakeDriver

CFG = config(machines={"a": "small", "b": "small"})
"""Two machines at idle 100 W, busy 300 W, off 5 W (the default)."""


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MeteredDriver(FakeDriver):
    """A fake BMC that also reports a draw (or fails to, or takes its time)."""

    def __init__(self, *, watts: float = 0.0, error: PowerError | None = None,
                 delay: float = 0.0) -> None:
        super().__init__()
        self.watts, self.error, self.reading_delay = watts, error, delay
        self.readings = 0

    async def power_watts(self) -> float:
        self.readings += 1
        await asyncio.sleep(self.reading_delay)
        if self.error is not None:
            raise self.error
        return self.watts


def tuned(**energy: object) -> AutoscalerConfig:
    document = CFG.model_dump(by_alias=True, mode="json")
    document["energy"] = energy
    return load_config_text(dump_yaml(document))


def meter(records: dict[str, MachineRecord], clock: Clock, *,
          cfg: AutoscalerConfig = CFG, level: float = 0.0,
          drivers: dict[str, FakeDriver] | None = None) -> tuple[EnergyMeter, ControllerMetrics]:
    metrics = ControllerMetrics()

    async def power_for(spec: MachineSpec) -> MachinePower:
        driver = (drivers or {})[spec.name]
        return MachinePower(spec.name, on_driver=driver, off_driver=driver)

    return EnergyMeter(config=lambda: cfg, records=records, cpu_level=lambda node: level,
                       metrics=metrics, power_for=power_for if drivers else None,
                       clock=clock, wall=lambda: clock.now + 1.7e9), metrics


def sample(metrics: ControllerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_joules_are_watts_times_seconds_exactly() -> None:
    clock = Clock()
    records = {"a": MachineRecord(state=MachineState.READY), "b": MachineRecord()}
    energy, metrics = meter(records, clock, level=0.5)  # a: 100 + 0.5 × 200 = 200 W
    energy.step()
    clock.now += 10.0
    energy.step()
    clock.now += 25.0
    energy.step()
    assert energy.totals("a") == Totals(200.0 * 35, 200.0 * 35, 1000.0 + 1.7e9)
    assert energy.totals("b") == Totals(5.0 * 35, 100.0 * 35, 1000.0 + 1.7e9)
    pool = "general"
    assert sample(metrics, "bamel_controller_machine_energy_joules_total", machine="a",
                  pool=pool, source="model") == 7000.0
    assert sample(metrics, "bamel_controller_pool_energy_joules_total", pool=pool) == 7175.0
    assert sample(metrics, "bamel_controller_pool_always_on_energy_joules_total",
                  pool=pool) == 10500.0
    assert sample(metrics, "bamel_controller_pool_energy_saved_joules_total",
                  pool=pool) == 3325.0
    assert sample(metrics, "bamel_controller_fleet_watts", pool=pool) == 205.0
    assert sample(metrics, "bamel_controller_machine_watts", machine="b", pool=pool,
                  source="model") == 5.0


def test_a_state_change_ends_the_old_draw_at_the_step_it_triggers() -> None:
    clock = Clock()
    records = {"a": MachineRecord(), "b": MachineRecord()}
    energy, _ = meter(records, clock)
    energy.step()
    clock.now += 4.0
    records["a"] = MachineRecord(state=MachineState.POWERING_ON, since=clock.now)
    energy.step()  # the service steps on every record change
    clock.now += 6.0
    energy.step()
    assert energy.totals("a").joules == 5.0 * 4 + 100.0 * 6
    assert energy.totals("a").saved_joules == (100.0 - 5.0) * 4


def test_the_pool_status_in_kwh_and_percent() -> None:
    hour = 3600.0
    status = energy_status(Totals(joules=2 * 3.6e6, always_on_joules=8 * 3.6e6,
                                  since=1.7e9 + hour))
    assert status == {"usedKWh": 2.0, "alwaysOnKWh": 8.0, "savedKWh": 6.0,
                      "savedPercent": 75.0, "since": "2023-11-14T23:13:20Z"}
    assert energy_status(Totals()) is None  # nothing counted yet


async def test_totals_survive_a_restart_through_the_records() -> None:
    clock = Clock()
    records = {"a": MachineRecord(state=MachineState.READY), "b": MachineRecord()}
    energy, _ = meter(records, clock)

    async def amend(name: str, change: Callable[[MachineRecord], MachineRecord | None]) -> bool:
        changed = change(records[name])
        assert changed is not None
        records[name] = changed
        return True

    energy._amend = amend
    energy.step()
    clock.now += 60.0
    await energy.persist()
    assert records["a"].energy_joules == 6000.0 and records["b"].always_on_joules == 6000.0
    stored = {name: record_of(status_of(record)) for name, record in records.items()}
    assert stored == records  # as a BareMetalNode status and back

    later, metrics = meter(stored, clock)  # a new controller
    later.step()
    clock.now += 30.0
    later.step()
    assert later.totals("a") == Totals(9000.0, 9000.0, records["a"].energy_since)
    assert later.pool_totals("general").joules == 9000.0 + 5.0 * 90
    assert sample(metrics, "bamel_controller_pool_energy_joules_total",
                  pool="general") == 3000.0 + 150.0  # counters begin at zero


async def test_a_bmc_reading_stands_until_the_machine_moves() -> None:
    clock = Clock()
    records = {"a": MachineRecord(state=MachineState.READY, since=5.0), "b": MachineRecord()}
    drivers: dict[str, FakeDriver] = {
        "a": MeteredDriver(watts=180.0),
        "b": MeteredDriver(error=PowerError("no DCMI", category="unsupported"))}
    energy, metrics = meter(records, clock, drivers=drivers)
    started: list[asyncio.Task[None]] = []
    settings = CFG.energy
    readings = energy.readings
    assert readings is not None
    readings.start_due(CFG.machines, settings,
                       start=lambda work, name: started.append(asyncio.create_task(work)))
    await asyncio.gather(*started)
    energy.step()
    clock.now += 10.0
    records["a"] = dataclasses.replace(records["a"], state=MachineState.DRAINING, since=9.0)
    energy.step()
    clock.now += 10.0
    energy.step()
    labels = {"machine": "a", "pool": "general"}
    assert sample(metrics, "bamel_controller_machine_energy_joules_total", source="bmc",
                  **labels) == 1800.0
    assert sample(metrics, "bamel_controller_machine_energy_joules_total", source="model",
                  **labels) == 1000.0  # draining: the reading no longer stands
    assert sample(metrics, "bamel_controller_machine_energy_joules_total", machine="b",
                  pool="general", source="model") == 100.0
    assert sample(metrics, "bamel_controller_machine_watts", source="bmc", **labels) == 0.0
    clock.now += settings.bmc_interval
    started.clear()
    readings.start_due(CFG.machines, settings,
                       start=lambda work, name: started.append(asyncio.create_task(work)))
    await asyncio.gather(*started)
    assert [drivers["a"].readings, drivers["b"].readings] == [2, 1]  # b said it has none


async def test_a_slow_bmc_never_holds_up_the_meter() -> None:
    cfg = tuned(interval="1s", bmcTimeout="0.05s")
    records = {"a": MachineRecord(state=MachineState.READY), "b": MachineRecord()}
    slow = MeteredDriver(watts=999.0, delay=3600.0)
    energy, metrics = meter(records, Clock(), cfg=cfg,
                            drivers={"a": slow, "b": MeteredDriver(watts=7.0)})
    steps: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds == cfg.energy.persist_interval:  # the persisting loop: not in this test
            await asyncio.sleep(3600)
        steps.append(seconds)
        if len(steps) == 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0.1)

    energy._sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(energy.run(), timeout=5)
    assert steps[:2] == [1.0, 1.0] and slow.readings == 1
    assert sample(metrics, "bamel_controller_machine_watts", machine="a", pool="general",
                  source="model") == 100.0
    assert sample(metrics, "bamel_controller_machine_watts", machine="b", pool="general",
                  source="bmc") == 7.0


def test_the_example_sets_the_meter_and_a_bad_interval_names_its_field() -> None:
    example = load_config(Path(__file__).parents[2] / "examples" / "config.yaml")
    assert (example.energy.interval, example.energy.bmc_interval, example.energy.bmc_timeout,
            example.energy.persist_interval, example.energy.read_bmc) == (15, 60, 10, 300, True)
    assert CFG.energy == example.energy  # the example shows the defaults
    with pytest.raises(ConfigError) as caught:
        tuned(interval="0.5s")
    assert caught.value.problems == ["energy.interval: 0.5 is below 1.0"]


async def test_the_saved_counter_never_goes_down_while_the_status_tells_the_truth() -> None:
    clock = Clock()
    records = {"a": MachineRecord(), "b": MachineRecord()}
    hungry = MeteredDriver(watts=150.0)  # off, yet drawing more than its idle 100 W
    energy, metrics = meter(records, clock, drivers={"a": hungry, "b": MeteredDriver(watts=5)})
    readings = energy.readings
    assert readings is not None
    started: list[asyncio.Task[None]] = []
    readings.start_due(CFG.machines, CFG.energy,
                       start=lambda work, name: started.append(asyncio.create_task(work)))
    await asyncio.gather(*started)
    before = dict(records)
    energy.step()
    clock.now += 10.0
    energy.step()
    assert sample(metrics, "bamel_controller_pool_energy_saved_joules_total",
                  pool="general") == (100.0 - 5.0) * 10  # b's saving only
    totals = energy.pool_totals("general")
    assert totals.saved_joules == (100.0 - 150.0) * 10 + (100.0 - 5.0) * 10
    assert records == before  # readings never write a record (nor count towards quarantine)


async def test_no_reading_without_readbmc_or_from_drivers_that_cannot_read_one(
        tmp_path: Path) -> None:
    records = {"a": MachineRecord(), "b": MachineRecord()}
    drivers: dict[str, FakeDriver] = {"a": MeteredDriver(watts=50.0), "b": FakeDriver()}
    energy, _ = meter(records, Clock(), drivers=drivers)
    readings = energy.readings
    assert readings is not None
    started: list[asyncio.Task[None]] = []

    def start(work: Coroutine[Any, Any, None], name: str) -> None:
        started.append(asyncio.create_task(work, name=name))

    readings.start_due(CFG.machines, tuned(readBmc=False).energy, start=start)
    assert started == []
    readings.start_due(CFG.machines, CFG.energy, start=start)
    await asyncio.gather(*started)
    assert readings.watts("a", records["a"]) == 50.0
    assert readings.watts("b", records["b"]) is None  # the fake driver reads no draw
    store = FileMachineStore(tmp_path / "state.json")  # no-CRD mode keeps the totals too
    counted = dataclasses.replace(records["a"], energy_joules=1.5, always_on_joules=30.25,
                                  energy_since=1.7e9)
    await store.put("a", counted)
    assert FileMachineStore(store.path).read() == {"a": counted}
