"""A Wake-on-LAN machine known only by its Node's IP: the controller keeps the IP and
finds the MAC behind it in the neighbour table.

Real peers: the control plane, a hollow kubelet whose Node reports the InternalIP of
a host in a network namespace (its own MAC, behind a veth pair), and the kernel's
neighbour table.
"""

from __future__ import annotations

import pytest

from controller.kube.client import KubeClient
from lab.hollow import HollowNode
from tests.power.test_neighbours import Host, host
from tests.service.rig import eventually, running
from tests.service.test_learned_mac import wol_config
from tests.service.test_service import World, bmc, machine_status, world

pytestmark = pytest.mark.integration

__all__ = ["bmc", "host", "world"]


async def test_a_machine_seen_only_by_ip_gets_its_mac_from_the_neighbour_table(
        world: World, kube: KubeClient, host: Host) -> None:
    world.config.write_text(wol_config(world, 9))
    async with running(world.settings()), \
            HollowNode(kubeconfig=world.kubeconfig, name=world.machine,
                       internal_ip=host.ip):
        learnt = await eventually(lambda: _status_macs(kube, world.machine), within=30)
        status = await machine_status(kube, world.machine)
    assert status.get("addresses") == [host.ip], status
    assert learnt == [host.mac], status


async def _status_macs(kube: KubeClient, name: str) -> list[str] | None:
    return (await machine_status(kube, name)).get("macs")
