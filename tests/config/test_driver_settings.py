"""Each driver's settings are checked offline, with the schema its build parses with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bamel.cli import main
from controller.config import ConfigError, load_config_text
from controller.config.loading import dump_yaml
from controller.power import DRIVERS, NO_CREDENTIALS, PowerError, build_driver, unwakeable
from tests.config.test_loading import _example

IPMI_KEYS = "host, port, username, timeout, wait, powerTimeout, pollInterval"


def _with_action(driver: str, settings: dict[str, Any], *, mac: str | None = None,
                 which: str = "on") -> dict[str, Any]:
    document = _example()
    machine = document["machines"][2]
    machine["power"][which] = {"driver": driver, "settings": settings}
    machine.pop("mac", None)
    if mac:
        machine["mac"] = mac
    return document


def _problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(dump_yaml(document), drivers=DRIVERS)
    return caught.value.problems


@pytest.mark.parametrize(("driver", "settings", "problem"), [
    ("ipmi", {"host": "h", "hots": "10.0.0.11"},
     f"machines[2].power.on.settings.hots: unknown key (value '10.0.0.11'); known: {IPMI_KEYS}"),
    ("ipmi", {"port": 623}, "machines[2].power.on.settings.host: is required"),
    ("ipmi", {"host": "h", "port": 70000},
     "machines[2].power.on.settings.port: 70000 is above 65535"),
    ("redfish", {"url": "10.0.0.12"},
     "machines[2].power.on.settings.url: '10.0.0.12' is not of the form ^https?://"),
    ("wol", {"prot": 9}, "machines[2].power.on.settings.prot: unknown key (value 9); known: "
     "mac, broadcast, interface, port, repeats, interval"),
    ("ssh", {"host": "h", "usr": "root"}, "machines[2].power.on.settings.usr: unknown key "
     "(value 'root'); known: host, port, user, command, forceCommand, knownHosts, "
     "trustUnknownHosts, connectTimeout, commandTimeout"),
    ("command", {"argv": ["pdu", "{nmae}"]}, "machines[2].power.on.settings.argv: bad "
     "placeholder in '{nmae}': 'nmae'; known: action, mac, name, pool"),
])
def test_each_kind_of_settings_typo_names_its_path_and_value(
        driver: str, settings: dict[str, Any], problem: str) -> None:
    assert _problems(_with_action(driver, settings, mac="52:54:00:00:00:09")) == [problem]


def test_the_build_refuses_with_the_same_words_as_the_check() -> None:
    document = _with_action("ipmi", {"hots": "10.0.0.11"})
    assert _problems(document) == [
        "machines[2].power.on.settings.host: is required",
        f"machines[2].power.on.settings.hots: unknown key (value '10.0.0.11'); known: {IPMI_KEYS}"]
    machine = load_config_text(dump_yaml(document)).machines[2]
    with pytest.raises(PowerError) as caught:
        build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
    assert caught.value.category == "rejected"
    assert caught.value.detail == ("settings.host: is required; settings.hots: unknown key "
                                   f"(value '10.0.0.11'); known: {IPMI_KEYS}")


def test_the_check_needs_no_credentials_or_network() -> None:
    document = _with_action("ipmi", {"host": "192.0.2.1"}, which="off")
    document["machines"][2]["power"]["credentials"] = {"secret": "absent"}
    assert load_config_text(dump_yaml(document), drivers=DRIVERS).machines[2].name


def test_a_wol_machine_without_a_mac_is_accepted_and_flagged_until_its_agent_reports() -> None:
    config = load_config_text(dump_yaml(_with_action("wol", {})), drivers=DRIVERS)
    name = config.machines[2].name
    assert list(unwakeable(config, learned={})) == [
        f"machines[2].power.on: {name} cannot be woken yet: no MAC address: set the "
        "machine's mac (or settings.mac), or let its agent report once (its NICs' MACs "
        "are then learnt)"]
    assert list(unwakeable(config, learned={name: ("52:54:00:00:00:09",)})) == []
    machine = config.machines[2]
    with pytest.raises(PowerError, match="let its agent report once"):
        build_driver(machine.power.on, machine=machine)
    driver = build_driver(machine.power.on, machine=machine,
                          learned_macs=("52:54:00:00:00:09", "52:54:00:00:00:0a"))
    assert driver.macs == ("52:54:00:00:00:09", "52:54:00:00:00:0a")  # type: ignore[attr-defined]


def test_cli_check_rejects_a_settings_typo_and_warns_of_a_wol_machine_without_mac(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text(dump_yaml(_with_action("ipmi", {"hots": "10.0.0.11"})))
    assert main(["config", "check", "--quiet", str(typo)]) == 1
    assert (f"{typo}: machines[2].power.on.settings.hots: unknown key (value '10.0.0.11'); "
            f"known: {IPMI_KEYS}") in capsys.readouterr().err
    unlearnt = tmp_path / "wol.yaml"
    unlearnt.write_text(dump_yaml(_with_action("wol", {})))
    assert main(["config", "check", "--quiet", str(unlearnt)]) == 0
    assert f"{unlearnt}: warning: machines[2].power.on: " in capsys.readouterr().err
