"""Power readings from the real BMC peers, and the energy meter's fallback to the model.

What the peers here serve: sushy-emulator's fake driver links each system to a
chassis that has a Thermal resource but no Power resource (its chassis template has
no ``Power`` link, and ``/redfish/v1/Chassis/<id>/Power`` answers 404), and
OpenIPMI's ipmi_sim answers DCMI "Get Power Reading" (netfn 0x2c, command 2) with
completion code 0xC1, invalid command. Neither gives a reading, so these tests prove
that the drivers say so as ``unsupported`` and that the meter then counts the
machine by its watts model, labelled ``source="model"``, and asks that BMC again
only after an hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import pytest

from controller.config import MachineSpec, load_config_text
from controller.config.loading import dump_yaml
from controller.energy import EnergyMeter
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState
from controller.power import MachinePower, PowerDriver, PowerError
from controller.powerreadings import UNSUPPORTED_RECHECK
from lab.peers import IpmiSim, SushyEmulator, fake_systems
from tests.controller.test_energy import Clock
from tests.power.test_ipmi import ipmi_driver
from tests.power.test_redfish import redfish_driver

pytestmark = pytest.mark.integration


def metered(spec: MachineSpec, driver: PowerDriver, clock: Clock,
            ) -> tuple[EnergyMeter, ControllerMetrics, dict[str, MachineRecord]]:
    """A meter over one machine (ready, idle 120 W) whose power is the real driver."""
    document = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
                "pools": [{"name": spec.pool}],
                "machines": [{**spec.model_dump(by_alias=True, mode="json"),
                              "idleWatts": 120, "busyWatts": 300}]}
    cfg = load_config_text(dump_yaml(document))
    records = {spec.name: MachineRecord(state=MachineState.READY, since=1.0)}
    metrics = ControllerMetrics()

    async def power_for(_: MachineSpec) -> MachinePower:
        return MachinePower(spec.name, on_driver=driver, off_driver=driver)

    meter = EnergyMeter(config=lambda: cfg, records=records, cpu_level=lambda node: 0.0,
                        metrics=metrics, power_for=power_for, clock=clock)
    return meter, metrics, records


async def read_due(meter: EnergyMeter) -> int:
    """Start the readings that are due and wait for them; how many were started."""
    assert meter.readings is not None
    cfg = meter._config()
    started: list[asyncio.Task[None]] = []
    start: Callable[..., object] = lambda work, name: started.append(  # noqa: E731
        asyncio.create_task(work, name=name))
    meter.readings.start_due(cfg.machines, cfg.energy, start=start)
    await asyncio.gather(*started)
    return len(started)


async def counts_by_model(meter: EnergyMeter, metrics: ControllerMetrics, clock: Clock,
                          name: str) -> None:
    """Ten seconds metered: all by the model at idle, none from the BMC."""
    meter.step()
    clock.now += 10.0
    meter.step()
    labels = {"machine": name, "pool": "general"}
    joules = metrics.registry.get_sample_value
    assert joules("bamel_controller_machine_energy_joules_total",
                  {**labels, "source": "model"}) == 1200.0
    assert joules("bamel_controller_machine_energy_joules_total",
                  {**labels, "source": "bmc"}) is None
    assert joules("bamel_controller_machine_watts", {**labels, "source": "model"}) == 120.0


async def test_redfish_emulator_has_no_power_resource_so_the_model_counts(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="controller.powerreadings")
    with SushyEmulator(fake_systems(1, prefix="meter")) as emulator:
        system = emulator.systems[0].uuid
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{emulator.url}/redfish/v1/Systems/{system}") as answer:
                chassis = (await answer.json())["Links"]["Chassis"][0]["@odata.id"]
            async with http.get(emulator.url + chassis) as answer:
                served = await answer.json()
            async with http.get(f"{emulator.url}{chassis}/Power") as answer:
                assert answer.status == 404
        assert "Thermal" in served and "Power" not in served
        driver = redfish_driver(emulator, system)
        try:
            with pytest.raises(PowerError) as caught:
                await driver.power_watts()
            assert caught.value.category == "unsupported"
            assert f"chassis {chassis} serves no Power resource" in str(caught.value)
            clock = Clock()
            meter, metrics, _ = metered(driver_machine(system, emulator.url), driver, clock)
            assert await read_due(meter) == 1
            await counts_by_model(meter, metrics, clock, "meter-1")
            assert "meter-1: no power reading from its BMC" in caplog.text
            clock.now += UNSUPPORTED_RECHECK - 11.0
            assert await read_due(meter) == 0  # not asked again within the hour
            clock.now += 1.0
            assert await read_due(meter) == 1
        finally:
            await driver.close()


def driver_machine(system: str, url: str) -> MachineSpec:
    return MachineSpec.model_validate({
        "name": "meter-1", "pool": "general", "capacity": {"cpu": "8", "memory": "32Gi"},
        "power": {"on": {"driver": "redfish", "settings": {"url": url, "system": system}},
                  "off": {"driver": "redfish", "settings": {"url": url, "system": system}}}})


async def test_ipmi_sim_refuses_dcmi_so_the_model_counts(bmc: IpmiSim) -> None:
    driver = ipmi_driver(bmc)
    await driver.power_on()
    with pytest.raises(PowerError) as caught:
        await driver.power_watts()
    assert caught.value.category == "unsupported" and not caught.value.retriable
    assert "power reading" in str(caught.value) and "Invalid command" in str(caught.value)
    spec = MachineSpec.model_validate({
        "name": "meter-2", "pool": "general", "capacity": {"cpu": "8", "memory": "32Gi"},
        "power": {"on": {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port}},
                  "off": {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port}}}})
    clock = Clock()
    meter, metrics, _ = metered(spec, driver, clock)
    assert await read_due(meter) == 1
    await counts_by_model(meter, metrics, clock, "meter-2")
    assert bmc.power  # the reading changed nothing
