"""Scale-down end to end: load falls, a node is drained within its PDB, then switched off.

The drained machine is woken by Wake-on-LAN and switched off over SSH, so the
power-off must arrive at its sshd as the shutdown command; while the drain moves the
pods, the PodDisruptionBudget must hold at every moment.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lab.fleet import MachinePlan
from lab.machine import Power
from lab.run import Lab
from tests.lab.conftest import (
    NAMESPACE,
    LabStarter,
    deploy,
    fleet_of,
    pods_by_node,
    power_commands,
    until,
)

pytestmark = pytest.mark.integration


async def _watch_running(lab: Lab, app: str, seen: list[int]) -> None:
    """Append the number of running pods of app, continuously, until cancelled."""
    while True:
        seen.append(sum(len(pods) for pods in (await pods_by_node(lab, app)).values()))
        await asyncio.sleep(0.1)


async def test_falling_load_drains_a_node_within_its_pdb_and_powers_it_off_over_ssh(
    start_lab: LabStarter,
) -> None:
    lab = await start_lab(fleet_of(
        MachinePlan("bmc-box", "general", "small", "4", "8Gi", power="ipmi", boot_delay=1.0,
                    idle_watts=100, mac="52:54:00:4d:00:01"),
        # Same shape, more idle watts: powering it off saves more, so it goes first.
        MachinePlan("lan-box", "general", "small", "4", "8Gi", power="wol-ssh", boot_delay=1.0,
                    idle_watts=140, mac="52:54:00:4d:00:02"),
        min_nodes=1))
    assert lab.cluster is not None
    await deploy(lab, "web", replicas=8, cpu="1", memory="512Mi", load="cpu=0.2")

    async def both_full() -> bool:
        return sorted(map(len, (await pods_by_node(lab, "web")).values())) == [4, 4]
    await until(both_full, "8 web pods running, 4 on each machine", lab)
    assert power_commands(lab, "lan-box")[0] == "wake 52:54:00:4d:00:02"

    await lab.cluster.disruption_budget(NAMESPACE, "web", min_available=3)

    async def budget_counted() -> bool:
        assert lab.cluster is not None
        status = await lab.cluster.disruption_budget_status(NAMESPACE, "web")
        return status.get("currentHealthy") == 8
    await until(budget_counted, "the PDB counting the 8 healthy pods", lab)

    seen: list[int] = []
    watcher = asyncio.create_task(_watch_running(lab, "web", seen))
    await lab.cluster.scale(NAMESPACE, "web", 4)  # the load falls
    try:
        async def lan_box_off() -> bool:
            return lab.machines["lan-box"].power is Power.OFF
        await until(lan_box_off, "lan-box powered off", lab)

        async def all_on_bmc_box() -> bool:
            return len((await pods_by_node(lab, "web")).get("bmc-box", [])) == 4
        await until(all_on_bmc_box, "the 4 web pods running on bmc-box", lab)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    assert min(seen) >= 3, f"the PDB (minAvailable 3) was broken: {min(seen)} running"
    assert power_commands(lab, "lan-box")[-1] == "systemctl poweroff"
    assert power_commands(lab, "bmc-box") == ["set power 1"]  # never switched off
    status = await lab.status()
    assert status.machine("lan-box").state == "off"
    assert any(d["direction"] == "power-off" and d["chosen"] == ["lan-box"]
               for d in status.decisions)
    node = await lab.cluster.node("lan-box")
    assert node is not None and node.spec.unschedulable  # cordoned by the drain


async def test_a_machine_switched_off_is_switched_on_again_when_needed_and_runs_pods(
    start_lab: LabStarter,
) -> None:
    lab = await start_lab(fleet_of(
        MachinePlan("again", "general", "small", "4", "8Gi", power="ipmi", boot_delay=1.0,
                    mac="52:54:00:4d:00:03")))
    assert lab.cluster is not None
    await deploy(lab, "web", replicas=2, cpu="1", memory="512Mi", load="cpu=0.2")

    async def running(count: int) -> bool:
        return len((await pods_by_node(lab, "web")).get("again", [])) == count

    await until(lambda: running(2), "2 web pods running on again", lab)
    await lab.cluster.scale(NAMESPACE, "web", 0)

    async def switched_off() -> bool:
        return lab.machines["again"].power is Power.OFF and \
            (await lab.status()).machine("again").state == "off"
    await until(switched_off, "again switched off once idle", lab)

    await lab.cluster.scale(NAMESPACE, "web", 2)
    await until(lambda: running(2), "2 web pods running on again after its second boot", lab)
    assert power_commands(lab, "again") == ["set power 1", "set shutdown 1", "set power 1"]
