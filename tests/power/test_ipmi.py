"""The ``ipmi`` driver against a real ipmi_sim BMC; the chassis state file is the witness."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.power import Credentials, PowerError, PowerState, build_driver
from controller.power.ipmi import IpmiDriver
from controller.power.ipmi_settings import IpmiSettings
from controller.power.ipmi_workers import close_workers
from lab.peers import IpmiSim
from lab.peers.process import free_port
from tests.power.conftest import CREDENTIALS, PASSWORD, make_machine

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
    assert time.monotonic() - started < 10  # pyghmi alone would wait half a minute


def test_ipmi_needs_a_password() -> None:
    machine = make_machine({"driver": "ipmi", "settings": {"host": "127.0.0.1"}})
    with pytest.raises(PowerError) as caught:
        build_driver(machine.power.on, machine=machine, credentials=Credentials(username="a"))
    assert caught.value.category == "auth"


async def test_works_when_the_process_holds_over_1024_descriptors(bmc: IpmiSim) -> None:
    # A controller with thousands of agent connections: pyghmi's sockets get high numbers.
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    driver = ipmi_driver(bmc)
    try:
        await driver.power_on()
        assert bmc.power and await driver.status() == PowerState.ON
    finally:
        await driver.close()
        for fd in held:
            os.close(fd)


async def test_a_silent_bmc_never_stalls_the_other_machines(bmc: IpmiSim) -> None:
    # Threads retrying a silent BMC could deadlock pyghmi for the whole process; each
    # operation now runs in its own worker, so the silent one costs only itself.
    silent = make_machine({"driver": "ipmi", "settings": {
        "host": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM), "timeout": 0.5}})
    dead = build_driver(silent.power.on, machine=silent, credentials=CREDENTIALS)
    wrong = ipmi_driver(bmc, Credentials(username="admin", password="not-it"))
    for operation in ("status", "power_on", "power_off"):
        for driver in (dead, wrong):
            with pytest.raises(PowerError):
                await getattr(driver, operation)()
    with IpmiSim(password=bmc.password) as other:
        good = [ipmi_driver(bmc), ipmi_driver(other)]
        await asyncio.gather(*(driver.power_on() for driver in good))
        assert bmc.power and other.power


async def test_a_worker_past_its_deadline_is_stopped(
        bmc: IpmiSim, monkeypatch: pytest.MonkeyPatch) -> None:
    bmc.kill_bmc()
    driver = ipmi_driver(bmc, timeout=30.0)
    monkeypatch.setattr(driver, "deadline", lambda operation: 1.0)
    with pytest.raises(PowerError) as caught:
        await driver.status()
    assert caught.value.category == "unreachable" and "worker stopped" in str(caught.value)
    assert _live_workers() == []


async def test_a_worker_that_dies_without_answering_is_a_clear_error(bmc: IpmiSim) -> None:
    # Settings the worker cannot read make it fail before it answers.
    broken = IpmiSettings.model_construct(host=bmc.host, port=bmc.port, timeout=-1.0,
                                          wait=True, power_timeout=5.0, poll_interval=0.1)
    driver = IpmiDriver(broken, machine="node-1", username="admin", password=PASSWORD)
    with pytest.raises(PowerError) as caught:
        await driver.status()
    assert caught.value.category == "rejected"
    assert "ipmi worker ended without an answer (exit 1)" in str(caught.value)
    assert bmc.commands() == []


async def test_a_cancelled_operation_stops_its_worker(bmc: IpmiSim) -> None:
    bmc.kill_bmc()
    operation = asyncio.create_task(ipmi_driver(bmc, timeout=30.0).status())
    await _eventually(lambda: len(_live_workers()) == 1)
    operation.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await operation
    await _eventually(lambda: _live_workers() == [])


async def test_closing_stops_the_worker_server(bmc: IpmiSim) -> None:
    await ipmi_driver(bmc).status()
    assert _servers()
    await close_workers()
    assert _servers() == []
    assert await ipmi_driver(bmc).status() == PowerState.OFF  # a new one starts on demand


async def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _servers() -> list[int]:
    """This process's IPMI worker servers."""
    return [pid for pid in _children(os.getpid()) if _cmdline(pid).find(b"ipmi_worker") >= 0]


def _live_workers() -> list[int]:
    """Live IPMI workers: the servers' children (none may linger)."""
    return [pid for server in _servers() for pid in _children(server)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    """Children of every thread of pid (the kernel lists them per thread)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children
