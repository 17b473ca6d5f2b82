"""The load generator speaks the agents' protocol: its frames are what the controller accepts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from benchmarks.swarm import (
    SLOTS,
    Agent,
    Refused,
    SampleTemplate,
    Swarm,
    agent_tokens,
    node_name,
    ws_frame,
)
from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.metrics import ControllerMetrics
from wire import decode_frame

SECRET = "test-secret"
LEVELS = {"cpu": 0.3, "memory": 0.2, "network": 0.1}


def test_a_template_fills_in_the_timestamp_and_sequence_number() -> None:
    sample = decode_frame(SampleTemplate("node-00007", LEVELS).payload(1234.5678901, 42))
    assert (sample.node, sample.seq, sample.interval) == ("node-00007", 42, 1.0)
    assert sample.timestamp == pytest.approx(1234.567890, abs=1e-6)
    assert sample.levels == LEVELS
    assert sample.rates == {"cpu": 0.0, "memory": 0.0, "network": 0.0}


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_frames_are_final_masked_text_frames_of_the_payload(size: int) -> None:
    payload = b"x" * size
    frame = ws_frame(payload)
    assert frame[0] == 0x81
    assert frame[1] & 0x80
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10], "big"), 10
    assert length == size
    assert frame[start:start + 4] == b"\0\0\0\0"
    assert frame[start + 4:] == payload


def test_tokens_differ_per_agent_and_per_secret() -> None:
    tokens = agent_tokens(100, SECRET)
    assert len(set(tokens.values())) == 100
    assert agent_tokens(1, "other")[node_name(0)] != tokens[node_name(0)]


class Arrivals:
    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {}
        self.changed = asyncio.Event()

    def record(self, sample: object, crossed: bool) -> None:
        node, seq = sample.node, sample.seq  # type: ignore[attr-defined]
        self.seqs.setdefault(node, []).append(seq)
        self.changed.set()

    async def until(self, done: object) -> None:
        async with asyncio.timeout(10):
            while not done():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[IngestServer, int, Arrivals]]:
    arrivals = Arrivals()
    server = IngestServer(store=PressureStore(),
                          authenticator=TokenAuthenticator(agent_tokens(3, SECRET)),
                          metrics=ControllerMetrics(), on_sample=arrivals.record)
    app = web.Application()
    app.add_routes(server.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield server, int(runner.addresses[0][1]), arrivals
    await server.close()
    await runner.cleanup()


@pytest.fixture
async def swarm(ingest: tuple[IngestServer, int, Arrivals]) -> AsyncIterator[Swarm]:
    generator = Swarm(host="127.0.0.1", port=ingest[1], secret=SECRET)
    yield generator
    generator.close()


async def test_agents_stream_their_own_node_and_unknown_ones_are_refused(
        ingest: tuple[IngestServer, int, Arrivals], swarm: Swarm) -> None:
    server, _, arrivals = ingest
    assert await swarm.connect([0, 1, 2, 3]) == 3  # agent 3 has no token on the server
    assert swarm.refused == 1
    for agent in swarm.agents.values():
        agent.send()
        agent.send()
    await arrivals.until(lambda: sum(map(len, arrivals.seqs.values())) == 6)
    assert arrivals.seqs == {node_name(i): [1, 2] for i in range(3)}
    assert server.stats.rejected == {"unauthorized": 1}
    assert await swarm.counts() == (0, 3)  # frames sent outside the schedule


async def test_doubled_agents_take_a_second_slot_half_a_second_on(swarm: Swarm) -> None:
    await swarm.connect([0, 1, 2])
    assert await swarm.double(2) == 2
    assert await swarm.double(2) == 2
    assert await swarm.double(5) == 3
    for agent in swarm.agents.values():
        slots = [i for i, held in enumerate(swarm._slots) if agent in held]
        assert slots == sorted([agent.slot, (agent.slot + SLOTS // 2) % SLOTS])


async def test_a_spike_changes_the_levels_of_that_agent_from_then_on(
        ingest: tuple[IngestServer, int, Arrivals], swarm: Swarm) -> None:
    server, _, arrivals = ingest
    await swarm.connect([0, 1])
    high = {"cpu": 0.9, "memory": 0.2, "network": 0.1}
    sent = await swarm.spike([(0.0, 1)], high)
    assert [index for index, _ in sent] == [1]
    swarm.agents[1].send()
    await arrivals.until(lambda: len(arrivals.seqs.get(node_name(1), [])) == 2)
    assert server.store.node_levels(node_name(1)) == high
    assert node_name(0) not in arrivals.seqs


class Written(list[bytes]):
    """A transport that keeps what is written to it."""

    def write(self, data: bytes) -> None:
        self.append(data)

    def close(self) -> None:
        self.append(b"closed")


async def test_the_upgrade_then_pings_are_answered_and_a_close_is_noted() -> None:
    agent = Agent(0, "token", "127.0.0.1", 1)
    transport = Written()
    agent._transport = transport  # type: ignore[assignment]
    agent.data_received(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x89\x02h")
    assert agent.upgraded.done() and not agent.closed
    agent.data_received(b"i\x88\x00")
    assert transport == [b"\x8a\x82\0\0\0\0hi"]
    assert agent.closed


async def test_a_refused_upgrade_fails_the_agent() -> None:
    agent = Agent(0, "token", "127.0.0.1", 1)
    agent._transport = Written()  # type: ignore[assignment]
    agent.data_received(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(Refused):
        await agent.upgraded
