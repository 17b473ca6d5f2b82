"""Wake-on-LAN of a machine whose configuration names no MAC: the agent's report is used.

Real peers: the control plane (the BareMetalNode status keeps the learnt MACs), the
controller's agent endpoint fed in the wire format, and a UDP socket on 127.0.0.1
that receives the magic packet.
"""

from __future__ import annotations

import pytest

from controller.kube.client import KubeClient, api_path
from lab.peers import WolListener, magic_packet
from tests.service.rig import AgentStream, eventually, replica_set, running
from tests.service.test_service import TOKEN, World, bmc, machine_status, world

pytestmark = pytest.mark.integration

__all__ = ["bmc", "world"]

LEARNT = "52:54:00:aa:bb:01"


def wol_config(world: World, port: int) -> str:
    """The rig's machine, woken by Wake-on-LAN with no ``mac`` anywhere in its config."""
    wol = f"{{driver: wol, settings: {{broadcast: 127.0.0.1, port: {port}, repeats: 1}}}}"
    text = world.config.read_text()
    on = text.index("      on: ")
    return text[:on] + f"      on: {wol}\n" + text[text.index("      off: "):]


async def test_wol_power_on_sends_the_mac_the_agent_reported(
        world: World, kube: KubeClient, caplog: pytest.LogCaptureFixture) -> None:
    async with WolListener() as listener:
        world.config.write_text(wol_config(world, listener.port))
        assert "mac:" not in world.config.read_text()
        async with running(world.settings()) as service:
            url = f"ws://127.0.0.1:{service.port}/v1/stream"
            async with AgentStream(url, world.machine, TOKEN, macs=(LEARNT,)):
                learnt = await eventually(
                    lambda: _status_macs(kube, world.machine), within=30)
            assert learnt == [LEARNT], await machine_status(kube, world.machine)
            assert f"{world.machine} cannot be woken yet" in caplog.text  # said at start
            await kube.request("POST", api_path("apps/v1", "replicasets",
                                                namespace=world.namespace),
                               body=replica_set("work", world.pool))
            packet = await listener.next(within=60)
        assert packet == magic_packet(LEARNT)
        assert service.records[world.machine].macs == (LEARNT,)


async def _status_macs(kube: KubeClient, name: str) -> list[str] | None:
    return (await machine_status(kube, name)).get("macs")
