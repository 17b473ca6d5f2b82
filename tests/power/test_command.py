"""The ``command`` driver running real scripts: arguments, environment, failures."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from controller.power import Credentials, PowerError, PowerState, build_driver
from controller.power.command import CommandDriver
from tests.power.conftest import PASSWORD, make_machine

pytestmark = pytest.mark.integration


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def driver_for(settings: dict[str, object], creds: Credentials | None = None) -> CommandDriver:
    machine = make_machine({"driver": "command", "settings": settings},
                           name="gpu-1", pool="gpu", mac="52:54:00:00:00:04")
    driver = build_driver(machine.power.on, machine=machine,
                          credentials=creds or Credentials())
    assert isinstance(driver, CommandDriver)
    return driver


async def test_script_receives_the_machine_fields(tmp_path: Path) -> None:
    record = tmp_path / "args"
    recorder = script(tmp_path, "outlet", f'printf "%s|" "$@" >> {record}; echo >> {record}\n'
                      f'echo "user=$BAMEL_USERNAME machine=$BAMEL_MACHINE"\n')
    driver = driver_for(
        {"argv": [str(recorder), "{action}", "{name}", "{pool}", "{mac}", "a b"]},
        Credentials(username="ops", password=PASSWORD),
    )
    await driver.power_on()
    await driver.power_off()
    await driver.power_off(force=True)
    assert record.read_text().splitlines() == [
        "on|gpu-1|gpu|52:54:00:00:00:04|a b|",
        "off|gpu-1|gpu|52:54:00:00:00:04|a b|",
        "force-off|gpu-1|gpu|52:54:00:00:00:04|a b|",
    ]
    assert [result.exit_code for result in driver.results] == [0, 0, 0]
    assert driver.results[0].output == "user=ops machine=gpu-1\n"
    assert PASSWORD not in " ".join(driver.results[0].argv)


async def test_failing_script_is_rejected_with_its_output(tmp_path: Path) -> None:
    failing = script(tmp_path, "pdu", 'echo "outlet 7: relay stuck" >&2\nexit 3\n')
    driver = driver_for({"argv": [str(failing), "on"]})
    with pytest.raises(PowerError) as caught:
        await driver.power_on()
    assert caught.value.category == "rejected"
    assert not caught.value.retriable
    assert "exited 3" in str(caught.value) and "relay stuck" in str(caught.value)
    assert driver.results[-1].exit_code == 3


async def test_output_echoing_the_password_is_redacted(tmp_path: Path) -> None:
    leaky = script(tmp_path, "leaky", 'echo "debug: password=$BAMEL_PASSWORD"\nexit 1\n')
    driver = driver_for({"argv": [str(leaky)]}, Credentials(username="u", password=PASSWORD))
    with pytest.raises(PowerError) as caught:
        await driver.power_on()
    assert PASSWORD not in str(caught.value)
    assert "password=***" in str(caught.value)


async def test_hung_script_is_killed_at_the_timeout(tmp_path: Path) -> None:
    hung = script(tmp_path, "hung", "exec sleep 30\n")
    driver = driver_for({"argv": [str(hung)], "timeout": 0.3})
    with pytest.raises(PowerError) as caught:
        await driver.power_on()
    assert caught.value.category == "timeout" and caught.value.retriable


async def test_missing_program_is_rejected(tmp_path: Path) -> None:
    driver = driver_for({"argv": [str(tmp_path / "absent")]})
    with pytest.raises(PowerError) as caught:
        await driver.power_on()
    assert caught.value.category == "rejected"


async def test_status_from_status_argv(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("ON\n")
    reader = script(tmp_path, "status", f"cat {state}\n")
    driver = driver_for({"argv": ["true"], "statusArgv": [str(reader), "{name}"]})
    assert "status" in driver.capabilities
    assert await driver.status() == PowerState.ON
    state.write_text("off\n")
    assert await driver.status() == PowerState.OFF
    state.write_text("flickering\n")
    assert await driver.status() == PowerState.UNKNOWN
    without = driver_for({"argv": ["true"]})
    with pytest.raises(PowerError) as caught:
        await without.status()
    assert caught.value.category == "unsupported"
