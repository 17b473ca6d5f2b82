"""A controller killed during a power-on, then restarted, never powers the machine on twice.

The chassis takes seconds to switch on, so the controller is still waiting on the
BMC when it gets SIGKILL. What counts is the BMC's own record of commands: one
``set power 1``, however many controllers came and went.
"""

from __future__ import annotations

import pytest

from lab.fleet import MachinePlan
from tests.lab.conftest import LabStarter, deploy, fleet_of, pods_by_node, power_commands, until

pytestmark = pytest.mark.integration


async def test_a_controller_killed_mid_power_on_and_restarted_does_not_power_on_again(
    start_lab: LabStarter,
) -> None:
    lab = await start_lab(fleet_of(
        MachinePlan("slow", "general", "small", "8", "16Gi", power="ipmi", boot_delay=1.0,
                    chassis_delay=6.0, mac="52:54:00:5e:00:01")))
    assert lab.controller is not None
    await deploy(lab, "web", replicas=2, cpu="1", memory="1Gi")

    async def command_reached_bmc() -> bool:
        return power_commands(lab, "slow") == ["set power 1"]
    await until(command_reached_bmc, "the power-on at the BMC", lab)
    status = await lab.status()
    assert status.machine("slow").state == "powering-on"
    assert lab.machines["slow"].power_ons == 0  # the chassis has not switched on yet

    lab.controller.kill()
    await lab.controller.start()  # same identity: it takes its Lease back at once

    async def pods_running() -> bool:
        return len((await pods_by_node(lab, "web")).get("slow", [])) == 2
    await until(pods_running, "the pods running on slow", lab)
    assert (await lab.status()).machine("slow").state == "ready"
    assert power_commands(lab, "slow") == ["set power 1"]
    assert lab.machines["slow"].power_ons == 1
    assert lab.controller.starts == 2
