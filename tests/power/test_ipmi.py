"""The ``ipmi`` driver against a real ipmi_sim BMC; the chassis state file is the witness."""

from __future__ import annotations

import time

import pytest

from controller.power import Credentials, PowerError, PowerState, build_driver
from controller.power.ipmi import IpmiDriver
from lab.peers import IpmiSim
from tests.power.conftest import CREDENTIALS, make_machine

pytestmark = pytest.mark.integration


def ipmi_driver(bmc: IpmiSim, creds: Credentials = CREDENTIALS, **extra: object) -> IpmiDriver:
    settings = {"host": bmc.host, "port": bmc.port, "pollInterval": 0.05, "timeout": 3, **extra}
    machine = make_machine({"driver": "ipmi", "settings": settings})
    driver = build_driver(machine.power.on, machine=machine, credentials=creds)
    assert isinstance(driver, IpmiDriver)
    return driver


async def test_status_on_off_reach_the_chassis(bmc: IpmiSim) -> None:
    driver = ipmi_driver(bmc)
    try:
        assert await driver.status() == PowerState.OFF
        await driver.power_on()
        assert bmc.power and await driver.status() == PowerState.ON
        await driver.power_on()  # already on: nothing more is sent
        await driver.power_off(force=True)
        assert not bmc.power and await driver.status() == PowerState.OFF
        assert bmc.commands() == ["set power 1", "set power 0"]
    finally:
        await driver.close()


async def test_graceful_off_asks_for_a_soft_shutdown(bmc: IpmiSim) -> None:
    driver = ipmi_driver(bmc)
    try:
        await driver.power_on()
        await driver.power_off()
        assert bmc.commands() == ["set power 1", "set shutdown 1"]
        assert not bmc.power
    finally:
        await driver.close()


async def test_polls_until_a_slow_chassis_changes() -> None:
    with IpmiSim(password="pw", delay_ms=400) as slow:
        driver = ipmi_driver(slow, Credentials(username="admin", password="pw"))
        await driver.power_on()
        assert slow.power
        await driver.close()


async def test_chassis_that_never_changes_times_out() -> None:
    with IpmiSim(password="pw", delay_ms=60_000) as stuck:
        driver = ipmi_driver(stuck, Credentials(username="admin", password="pw"),
                             powerTimeout=0.5)
        with pytest.raises(PowerError) as caught:
            await driver.power_on()
        assert caught.value.category == "timeout" and caught.value.retriable
        assert stuck.commands() == ["set power 1"]
        await driver.close()


async def test_wrong_password_is_an_auth_error(bmc: IpmiSim) -> None:
    driver = ipmi_driver(bmc, Credentials(username="admin", password="not-it"))
    with pytest.raises(PowerError) as caught:
        await driver.status()
    assert caught.value.category == "auth" and not caught.value.retriable
    assert "not-it" not in str(caught.value)
    assert bmc.commands() == []


async def test_stopped_bmc_is_unreachable_within_the_timeout(bmc: IpmiSim) -> None:
    bmc.kill_bmc()
    driver = ipmi_driver(bmc, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(PowerError) as caught:
        await driver.power_on()
    assert caught.value.category == "unreachable" and caught.value.retriable
    assert time.monotonic() - started < 5


def test_ipmi_needs_a_password() -> None:
    machine = make_machine({"driver": "ipmi", "settings": {"host": "127.0.0.1"}})
    with pytest.raises(PowerError) as caught:
        build_driver(machine.power.on, machine=machine, credentials=Credentials(username="a"))
    assert caught.value.category == "auth"


async def test_works_when_the_process_holds_over_1024_descriptors(bmc: IpmiSim) -> None:
    # A controller with thousands of agent connections: pyghmi's sockets get high numbers.
    import os

    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    driver = ipmi_driver(bmc)
    try:
        await driver.power_on()
        assert bmc.power and await driver.status() == PowerState.ON
    finally:
        await driver.close()
        for fd in held:
            os.close(fd)
