"""Lab machines follow their real power peers: on → a tainted Node joins, off → it stops.

No controller here: the power calls go through the project's own drivers, so this
checks the lab's half of the contract (what a machine does when its BMC, Redfish
service, NIC or sshd is told something) before the end-to-end tests rely on it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from controller.config.loading import dump_yaml, load_config_text
from controller.power import load_credentials, machine_power
from lab.cluster import Cluster
from lab.controlplane import ControlPlane
from lab.fleet import Fleet, MachinePlan, PoolPlan, config_document
from lab.machine import LabMachine, Power, StreamTarget
from lab.rack import Rack

pytestmark = pytest.mark.integration


async def _until(check: Any, what: str, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {within:g}s")
        await asyncio.sleep(0.2)


async def test_each_kind_of_machine_joins_on_power_on_and_stops_on_power_off(
    control_plane: ControlPlane, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:5]
    fleet = Fleet(pools=(PoolPlan("general"),), machines=(
        MachinePlan(f"ipmi-{suffix}", "general", "small", "4", "8Gi", power="ipmi",
                    boot_delay=0.5, mac="52:54:00:2b:00:01"),
        MachinePlan(f"redfish-{suffix}", "general", "small", "4", "8Gi", power="redfish",
                    boot_delay=0.5, mac="52:54:00:2b:00:02"),
        MachinePlan(f"wol-{suffix}", "general", "gpu", "8", "16Gi", gpu=2, power="wol-ssh",
                    boot_delay=0.5, mac="52:54:00:2b:00:03"),
    ))
    token = tmp_path / "token"
    token.write_text("unused\n")
    async with Cluster(control_plane.kubeconfig) as cluster, \
            Rack(fleet, workdir=tmp_path, namespace="bamel-system") as rack:
        machines = [LabMachine(plan, rack.peers[plan.name], kubeconfig=control_plane.kubeconfig,
                               stream=StreamTarget("ws://127.0.0.1:9/v1/stream", token),
                               poll=0.1).start()
                    for plan in fleet.machines]
        config = load_config_text(dump_yaml(config_document(fleet, rack.wiring())))

        async def read_secret(name: str, namespace: str) -> Mapping[str, str]:
            return rack.secrets[name]

        try:
            powers = [machine_power(spec, await load_credentials(
                spec.power.credentials, secret_reader=read_secret)) for spec in config.machines]
            await asyncio.gather(*(power.power_on() for power in powers))
            for machine in machines:
                async def registered(name: str = machine.name) -> bool:
                    node = await cluster.node(name)
                    return node is not None and any(
                        t.key == "bamel.io/unconfirmed" for t in node.spec.taints or [])
                await _until(registered, f"{machine.name} registered tainted")
            # What the controller does at join; a kubelet taints only the Node it creates.
            await cluster.core.patch_node(f"ipmi-{suffix}", {"spec": {"taints": []}})
            wol = await cluster.node(f"wol-{suffix}")
            assert wol.status.capacity["nvidia.com/gpu"] == "2"
            assert wol.metadata.labels["lab.bamel.io/shape"] == "gpu"

            await asyncio.gather(*(power.power_off() for power in powers))
            for machine in machines:
                async def off(m: LabMachine = machine) -> bool:
                    return m.power is Power.OFF and m.node is None
                await _until(off, f"{machine.name} off")
            assert [m.power_ons for m in machines] == [1, 1, 1]
            assert [m.power_offs for m in machines] == [1, 1, 1]
            assert rack.peers[f"ipmi-{suffix}"].records() == ["set power 1", "set shutdown 1"]
            assert len(rack.peers[f"redfish-{suffix}"].records()) == 2
            assert rack.peers[f"wol-{suffix}"].records()[-1] == "systemctl poweroff"

            await powers[0].power_on()
            async def back_untainted() -> bool:
                node = await cluster.node(f"ipmi-{suffix}")
                return machines[0].power is Power.ON and not node.spec.taints
            await _until(back_untainted, "the rebooted kubelet back, adopting its old Node")
            assert machines[0].power_ons == 2
        finally:
            for machine in machines:
                await machine.close()
            for power in locals().get("powers", []):
                await power.close()
