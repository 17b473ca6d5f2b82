"""Registry, settings validation, credentials and the on/off pair, with the fake driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.config.schema import CredentialsRef
from controller.power import (
    NO_CREDENTIALS,
    Credentials,
    PowerError,
    PowerState,
    build_driver,
    load_credentials,
    machine_power,
)
from controller.power.machine import MachinePower
from tests.power.conftest import PASSWORD, make_machine
from tests.power.fakes import FakeDriver

FAKE = {"driver": "fake"}


def test_unknown_driver_is_unsupported() -> None:
    machine = make_machine({"driver": "telepathy"})
    with pytest.raises(PowerError) as caught:
        build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
    assert caught.value.category == "unsupported"
    assert not caught.value.retriable
    assert "telepathy" in str(caught.value) and "ipmi" in str(caught.value)


def test_bad_settings_name_the_field() -> None:
    machine = make_machine({"driver": "wol", "settings": {"prot": 9}})
    with pytest.raises(PowerError) as caught:
        build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
    assert caught.value.category == "rejected"
    assert "settings.prot" in str(caught.value)


def test_command_placeholder_typo_fails_at_build() -> None:
    machine = make_machine({"driver": "command", "settings": {"argv": ["x", "{nmae}"]}})
    with pytest.raises(PowerError, match="nmae"):
        build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)


def test_credentials_never_show_secrets() -> None:
    creds = Credentials(username="admin", password=PASSWORD, private_key="KEYDATA")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert PASSWORD not in text and "KEYDATA" not in text
    assert "admin" in repr(creds)
    assert creds.redact(f"login {PASSWORD} failed") == "login *** failed"


async def test_credentials_from_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "bmc.yaml"
    yaml_file.write_text(f"username: admin\npassword: {PASSWORD}\n")
    json_file = tmp_path / "ssh.json"
    json_file.write_text(json.dumps({"user": "root", "privateKey": "PEM"}))
    from_yaml = await load_credentials(CredentialsRef(file=str(yaml_file)))
    from_json = await load_credentials(CredentialsRef(file=str(json_file)))
    assert (from_yaml.username, from_yaml.password) == ("admin", PASSWORD)
    assert (from_json.username, from_json.private_key) == ("root", "PEM")


async def test_broken_credentials_file_does_not_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"password: [{PASSWORD}\n")
    with pytest.raises(PowerError) as caught:
        await load_credentials(CredentialsRef(file=str(path)))
    assert caught.value.category == "auth"
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_credentials_from_a_secret_through_the_injected_reader() -> None:
    seen: list[tuple[str, str]] = []

    async def reader(name: str, namespace: str) -> dict[str, bytes]:
        seen.append((name, namespace))
        if name != "bmc-1":
            raise KeyError(name)
        return {"username": b"admin", "password": PASSWORD.encode()}

    creds = await load_credentials(CredentialsRef(secret="bmc-1"), secret_reader=reader)
    assert creds.password == PASSWORD and seen == [("bmc-1", "bamel-system")]
    with pytest.raises(PowerError, match="not found"):
        await load_credentials(CredentialsRef(secret="nope"), secret_reader=reader)
    with pytest.raises(PowerError, match="no secret reader"):
        await load_credentials(CredentialsRef(secret="bmc-1"))
    assert await load_credentials(None) is NO_CREDENTIALS


@pytest.mark.usefixtures("fake_power_driver")
async def test_pair_delegates_and_shares_identical_drivers() -> None:
    same = machine_power(make_machine(FAKE), NO_CREDENTIALS)
    assert same.on_driver is same.off_driver
    split = machine_power(make_machine({"driver": "wol"}, {"driver": "fake"}), NO_CREDENTIALS)
    assert split.on_driver is not split.off_driver
    assert split.on_driver.name == "wol"
    assert await split.status() == PowerState.OFF  # read from the off-driver
    await split.power_off(force=True)
    assert isinstance(split.off_driver, FakeDriver)
    assert split.off_driver.calls == [("status", "node-1"), ("force-off", "node-1")]
    await split.close()
    assert split.off_driver.closed == 1


async def test_status_unsupported_when_no_driver_reads_it() -> None:
    pair = MachinePower("m", on_driver=_Blind(), off_driver=_Blind())
    with pytest.raises(PowerError) as caught:
        await pair.status()
    assert caught.value.category == "unsupported"
    assert "readiness" in str(caught.value)
    with pytest.raises(PowerError, match="forced"):
        await pair.power_off(force=True)


async def test_fake_fails_once_then_recovers() -> None:
    fake = FakeDriver(machine="m")
    fake.failures["on"] = PowerError("BMC busy", category="unreachable")
    with pytest.raises(PowerError) as caught:
        await fake.power_on()
    assert caught.value.retriable
    await fake.power_on()
    assert fake.state == PowerState.ON


def test_error_categories_and_pickling() -> None:
    import pickle

    error = PowerError("slow", category="timeout", driver="ipmi", machine="m")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.category, copy.retriable, str(copy)) == ("timeout", True, "m: ipmi: slow")
    with pytest.raises(ValueError, match="category"):
        PowerError("x", category="weird")  # type: ignore[arg-type]


class _Blind(FakeDriver):
    capabilities = frozenset({"on", "off"})
