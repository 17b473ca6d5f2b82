"""What a machine's agent reports of it, used and shown: Wake-on-LAN of a machine whose
configuration names no MAC sends to the MAC the agent reported, and the DMI identity
and addresses of its host frame reach the BareMetalNode status.

Real peers: the control plane (the BareMetalNode status keeps the learnt MACs), the
controller's agent endpoint fed in the wire format, and a UDP socket on 127.0.0.1
that receives the magic packet.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.stream import StreamClient
from controller.kube.client import KubeClient, api_path
from controller.service import LEASE_NAME
from lab.peers import WolListener, magic_packet
from tests.service.rig import AgentStream, eventually, replica_set, running
from tests.service.test_service import TOKEN, World, bmc, machine_status, world
from wire import HostFacts

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


async def test_the_agents_host_frame_reaches_the_machines_status(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    """The agent's own stream client, over wire v2, to the running controller: the DMI
    identity and addresses it reads are kept in the record and shown in the status."""
    facts = HostFacts(node=world.machine, boot_id="b-1",
                      dmi={"vendor": "Supermicro", "product": "SYS-5019C-M",
                           "serial": "S1234"},
                      addresses=("192.0.2.31", "2001:db8::31"))
    async with running(world.settings()) as service, \
            agent_stream(service, tmp_path, facts):
        status = await eventually(lambda: _status_with_hardware(kube, world.machine),
                                  within=30)
        assert service.records[world.machine].host_addresses == facts.addresses
    assert status["hardware"] == facts.dmi
    assert status["hostAddresses"] == ["192.0.2.31", "2001:db8::31"]


@contextlib.asynccontextmanager
async def agent_stream(service: Any, tmp_path: Path, facts: HostFacts) -> AsyncIterator[None]:
    """The agent's own stream client to the running controller, with its node's token,
    opening with these host facts."""
    token = tmp_path / "token"
    token.write_text(TOKEN)
    stream = StreamClient(url=f"ws://127.0.0.1:{service.port}/v1/stream",
                          token_file=token, host=lambda: facts)
    stream.start()
    try:
        yield
    finally:
        await stream.close()


async def _status_with_hardware(kube: KubeClient, name: str) -> dict[str, Any] | None:
    status = await machine_status(kube, name)
    return status if status.get("hardware") else None


async def test_a_host_frame_sent_to_a_standby_is_learned_when_it_takes_over(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    """A rival holds the Lease for 4 s: the agent connects to the standby, whose host
    frame arrives once, before this replica leads."""
    await kube.request("POST", api_path("coordination.k8s.io/v1", "leases",
                                        namespace=world.namespace), body={
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": world.namespace},
        "spec": {"holderIdentity": "rival", "leaseDurationSeconds": 4,
                 "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}})
    facts = HostFacts(node=world.machine, boot_id="b-2", dmi={"vendor": "Gigabyte"},
                      addresses=("192.0.2.32",))
    async with running(world.settings()) as service, \
            agent_stream(service, tmp_path, facts):
        assert await eventually(lambda: _heard_from(service), within=10)
        assert service.metrics.leader._value.get() == 0  # still a standby
        status = await eventually(lambda: _status_with_hardware(kube, world.machine),
                                  within=60)
    assert (status["hardware"], status["hostAddresses"]) == (facts.dmi, ["192.0.2.32"])


async def _heard_from(service: Any) -> bool:
    return bool(service.ingest.stats.frames)
