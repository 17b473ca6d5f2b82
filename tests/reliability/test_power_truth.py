"""Power-state truth against real BMCs: a person flips the power behind the controller's
back (ipmitool against ipmi_sim, a Redfish reset against sushy-emulator), and the
power sync notices it, records it, shows it, and adopts or restores it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.machines import MachineRecord
from controller.planning import MachineState
from lab.peers import IpmiSim, SushyEmulator, fake_systems
from tests.power.conftest import PASSWORD
from tests.reliability.bmcrig import BmcRig, eventually, fleet

pytestmark = pytest.mark.integration

READY = MachineRecord(state=MachineState.READY, since=1.0, power_state="on",
                      kubernetes_node="m")
OFF = MachineRecord(state=MachineState.OFF, since=1.0, power_state="off")


def by_hand(bmc: IpmiSim, command: str) -> None:
    """A person at a terminal: ``ipmitool chassis power on|off`` against the BMC."""
    subprocess.run(["ipmitool", "-I", "lanplus", "-H", bmc.host, "-p", str(bmc.port),
                    "-U", "admin", "-P", PASSWORD, "-C", "3", "chassis", "power", command],
                   check=True, capture_output=True, timeout=30)


def ipmi(bmc: IpmiSim) -> dict[str, object]:
    return {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port, "timeout": 2,
                                           "pollInterval": 0.1, "powerTimeout": 10}}


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username="admin", password=PASSWORD) as sim:
        yield sim


@pytest.fixture
def powered_bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username="admin", password=PASSWORD, power_on=True) as sim:
        yield sim


async def test_ipmi_machine_switched_off_by_hand_is_noticed_recorded_and_shown(
        powered_bmc: IpmiSim, tmp_path: Path) -> None:
    rig = BmcRig(fleet(tmp_path, ipmi(powered_bmc)), {"m": READY})
    try:
        await rig.sync_now()
        assert rig.records["m"] == READY and rig.events.seen == []  # in agreement
        by_hand(powered_bmc, "off")
        await rig.sync_now()
        record = rig.records["m"]
        assert (record.state, record.power_state, record.kubernetes_node) == (
            MachineState.OFF, "off", "")
        assert rig.events.reasons("m") == ["PowerStateDrift"]
        assert rig.count(rig.metrics.power_drift, "m", "off", "on") == 1
        assert rig.count(rig.metrics.status_reads, "m", "ok") == 2
        assert powered_bmc.commands() == ["set power 0"]  # the person's only: nothing fought
        await rig.sync_now()
        assert rig.events.reasons("m") == ["PowerStateDrift"]  # noticed once
    finally:
        await rig.close()


async def test_ipmi_machine_switched_on_by_hand_is_left_on(bmc: IpmiSim, tmp_path: Path) -> None:
    rig = BmcRig(fleet(tmp_path, ipmi(bmc)), {"m": OFF})
    try:
        by_hand(bmc, "on")
        await rig.sync_now()
        assert (rig.records["m"].state, rig.records["m"].power_state) == (MachineState.OFF, "on")
        assert rig.count(rig.metrics.power_drift, "m", "on", "off") == 1
        assert bmc.commands() == ["set power 1"] and bmc.power
    finally:
        await rig.close()


async def test_restore_powers_the_chassis_back_on(powered_bmc: IpmiSim, tmp_path: Path) -> None:
    rig = BmcRig(fleet(tmp_path, ipmi(powered_bmc), powerSync={"policy": "restore"}),
                 {"m": READY})
    try:
        by_hand(powered_bmc, "off")
        await rig.sync_now()
        await rig.settle()
        assert powered_bmc.commands() == ["set power 0", "set power 1"] and powered_bmc.power
        assert rig.records["m"].state is MachineState.READY
        assert rig.events.reasons("m") == ["PowerStateDrift", "PowerStateRestored"]
        assert rig.count(rig.metrics.power_actions, "ipmi", "on", "ok") == 1
    finally:
        await rig.close()


def reset(emulator: SushyEmulator, system: str, reset_type: str) -> None:
    """A person on the BMC's web page: POST ComputerSystem.Reset."""
    request = urllib.request.Request(
        f"{emulator.url}/redfish/v1/Systems/{system}/Actions/ComputerSystem.Reset",
        data=json.dumps({"ResetType": reset_type}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def power_state(emulator: SushyEmulator, system: str) -> str:
    with urllib.request.urlopen(f"{emulator.url}/redfish/v1/Systems/{system}",
                                timeout=10) as response:
        return str(json.load(response)["PowerState"])


async def test_redfish_machine_switched_on_by_hand_is_noticed(tmp_path: Path) -> None:
    system = fake_systems(1, prefix="rf")[0]
    with SushyEmulator([system]) as emulator:
        power = {"driver": "redfish", "settings": {"url": emulator.url, "auth": "basic"}}
        rig = BmcRig(fleet(tmp_path, power), {"m": OFF})
        try:
            await rig.sync_now()
            assert rig.events.seen == []
            reset(emulator, system.uuid, "On")
            await eventually(lambda: power_state(emulator, system.uuid) == "On", within=20)
            await rig.sync_now()
            assert (rig.records["m"].state, rig.records["m"].power_state) == (
                MachineState.OFF, "on")
            assert rig.events.reasons("m") == ["PowerStateDrift"]
            assert rig.count(rig.metrics.power_drift, "m", "on", "off") == 1
        finally:
            await rig.close()
