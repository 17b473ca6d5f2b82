"""Wire v2 between the real agent stream and the real ingest endpoint, on loopback:
the agent opens with its host frame where the controller chose ``bamel.v2``, and a
client that offers no subprotocol (an agent from before v2) speaks v1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent.stream import StreamClient
from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.metrics import ControllerMetrics
from tests.ingest.test_server import TOKENS, Seen, sample, serving
from tests.wire.test_host import FACTS
from wire import HostFacts, encode_host, encode_sample


class Hosts(list[HostFacts]):
    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def record(self, facts: HostFacts) -> None:
        self.append(facts)
        self.arrived.set()


@pytest.fixture
async def server() -> AsyncIterator[tuple[IngestServer, str, Seen, Hosts]]:
    seen, hosts = Seen(), Hosts()
    ingest = IngestServer(store=PressureStore(capacity=1),
                          authenticator=TokenAuthenticator(TOKENS), metrics=ControllerMetrics(),
                          on_sample=seen.record, on_host=hosts.record)
    async with serving(ingest) as url:
        yield ingest, url, seen, hosts


async def test_the_agent_opens_each_connection_with_its_host_frame(
        server: tuple[IngestServer, str, Seen, Hosts], tmp_path: Path) -> None:
    ingest, url, seen, hosts = server
    token = tmp_path / "token"
    token.write_text("token-a")
    stream = StreamClient(url=url, token_file=token, host=lambda: FACTS)
    stream.start()
    try:
        stream.offer(sample(seq=1))
        await seen.reach(1)
        async with asyncio.timeout(5):
            await hosts.arrived.wait()
    finally:
        await stream.close()
    assert hosts == [FACTS]
    assert ingest.stats.frames == 2
    assert dict(ingest.stats.rejected) == {}


async def test_a_client_offering_no_subprotocol_speaks_v1(
        server: tuple[IngestServer, str, Seen, Hosts]) -> None:
    ingest, url, seen, hosts = server
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-a"}) as ws:
        assert ws.protocol is None
        await ws.send_str(encode_host(FACTS))
        await ws.send_str(encode_sample(sample(seq=1)))
        await seen.reach(1)
    assert hosts == []
    assert dict(ingest.stats.rejected) == {"version": 1}


async def test_a_host_frame_for_another_node_is_forged(
        server: tuple[IngestServer, str, Seen, Hosts]) -> None:
    ingest, url, seen, hosts = server
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-b"}, protocols=("bamel.v2",)) as ws:
        assert ws.protocol == "bamel.v2"
        await ws.send_str(encode_host(FACTS))  # FACTS speak for node-a
        await ws.send_str(encode_sample(sample(node="node-b", seq=1)))
        await seen.reach(1)
    assert hosts == []
    assert dict(ingest.stats.rejected) == {"forged": 1}
