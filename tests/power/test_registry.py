"""The registry holds only drivers that reach real machines; tests add the fake one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.power import DRIVERS, NO_CREDENTIALS, PowerError, build_driver
from tests.power.conftest import make_machine
from tests.power.fakes import FakeDriver

FAKE = make_machine({"driver": "fake"})
CRD = Path(__file__).parents[2] / "daemonset" / "crds" / "baremetalnode.yaml"


def test_the_fake_driver_is_not_in_the_production_registry() -> None:
    assert "fake" not in DRIVERS
    with pytest.raises(PowerError) as caught:
        build_driver(FAKE.power.on, machine=FAKE, credentials=NO_CREDENTIALS)
    assert caught.value.category == "unsupported" and not caught.value.retriable
    assert "unknown driver 'fake'; known: command, ipmi, redfish, ssh, wol" in str(caught.value)


def test_the_fixture_registers_the_fake_driver_for_its_test(
        fake_power_driver: type[FakeDriver]) -> None:
    driver = build_driver(FAKE.power.on, machine=FAKE, credentials=NO_CREDENTIALS)
    assert isinstance(driver, fake_power_driver)
    assert driver.machine == "node-1"


def test_the_fixture_removed_it_again() -> None:
    assert sorted(DRIVERS) == ["command", "ipmi", "redfish", "ssh", "wol"]


def test_the_baremetalnode_crd_allows_exactly_the_registered_drivers() -> None:
    crd = yaml.safe_load(CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for action in ("on", "off"):
        driver = spec["properties"]["power"]["properties"][action]["properties"]["driver"]
        assert sorted(driver["enum"]) == sorted(DRIVERS)
