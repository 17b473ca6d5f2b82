"""The ingest endpoint against real websocket clients on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.metrics import ControllerMetrics
from wire import PressureSample, encode_sample

TOKENS = {"node-a": "token-a", "node-b": "token-b"}


def sample(node: str = "node-a", seq: int = 1, cpu: float = 0.2) -> PressureSample:
    return PressureSample(node=node, boot_id="boot-1", macs=("52:54:00:00:00:01",),
                          timestamp=1700000000.0 + seq, seq=seq, interval=1.0,
                          levels={"cpu": cpu, "memory": 0.1, "network": 0.0},
                          rates={"cpu": 0.0, "memory": 0.0, "network": 0.0},
                          sources={"cpu": "ebpf", "memory": "psi", "network": "proc"})


class Seen(list[tuple[str, bool]]):
    """Samples the server accepted, with an event to await the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def record(self, item: PressureSample, crossed: bool) -> None:
        self.append((item.node, crossed))
        self.arrived.set()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def server() -> AsyncIterator[tuple[IngestServer, str, Seen]]:
    seen = Seen()
    ingest = IngestServer(store=PressureStore(capacity=1),
                          authenticator=TokenAuthenticator(TOKENS), metrics=ControllerMetrics(),
                          on_sample=seen.record,
                          crossed=lambda s: s.levels["cpu"] > 0.6)
    async with serving(ingest) as url:
        yield ingest, url, seen


@contextlib.asynccontextmanager
async def serving(ingest: IngestServer) -> AsyncIterator[str]:
    """The endpoint on a free loopback port; its stream URL."""
    app = web.Application()
    app.add_routes(ingest.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/v1/stream"
    finally:
        await ingest.close()
        await runner.cleanup()


async def test_samples_land_in_the_store_and_crossings_are_flagged(server) -> None:  # type: ignore[no-untyped-def]
    ingest, url, seen = server
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-a"}) as ws:
        await ws.send_str(encode_sample(sample(seq=1)))
        await ws.send_str(encode_sample(sample(seq=2, cpu=0.9)))
        await seen.reach(2)
    assert seen == [("node-a", False), ("node-a", True)]
    assert ingest.store.node_levels("node-a") == {"cpu": 0.9, "memory": 0.1, "network": 0.0}
    assert ingest.store.macs["node-a"] == ("52:54:00:00:00:01",)


async def test_missing_or_wrong_token_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    ingest, url, _ = server
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "token-a"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(url, headers=headers)
            assert caught.value.status == 401
    assert ingest.stats.rejected["unauthorized"] == 3


async def test_bad_frames_are_counted_by_reason_and_never_crash(server) -> None:  # type: ignore[no-untyped-def]
    ingest, url, seen = server
    good = json.loads(encode_sample(sample(seq=5)))
    bad_frames = [
        "{not json",
        json.dumps({**good, "v": 2}),
        json.dumps({**good, "levels": {"cpu": 7}}),
        json.dumps({**good, "extra": 1}),
        "x" * 70_000,
        encode_sample(sample(node="node-b", seq=6)),  # token-a speaking for node-b
        b"\xff\xfe",
    ]
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-a"}) as ws:
        for frame in bad_frames:
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        await ws.send_str(encode_sample(sample(seq=7)))
        await seen.reach(1)
    assert dict(ingest.stats.rejected) == {"malformed": 2, "version": 1, "schema": 2,
                                           "oversized": 1, "forged": 1}
    assert ingest.stats.frames == 1


async def test_a_connection_that_keeps_sending_garbage_is_closed(server) -> None:  # type: ignore[no-untyped-def]
    ingest, url, _ = server
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-b"}) as ws:
        for _ in range(25):
            await ws.send_str("garbage")
        message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1008
    assert ingest.stats.closed_for_rejects == 1


async def test_frames_above_the_transport_limit_close_the_connection(server) -> None:  # type: ignore[no-untyped-def]
    ingest, url, _ = server
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": "Bearer token-a"}) as ws:
        await ws.send_str("y" * 300_000)
        await ws.receive(timeout=5)
    assert ingest.stats.rejected["oversized"] == 1


def test_store_ignores_replays_and_ages_out_silent_nodes() -> None:
    store = PressureStore(capacity=1)
    assert store.update(sample(seq=3, cpu=0.5), now=100.0)
    assert not store.update(sample(seq=2, cpu=0.9), now=101.0)
    assert store.update(sample(node="node-b", seq=1, cpu=0.1), now=101.0)
    both = store.aggregate(["node-a", "node-b", "node-x"], now=102.0)
    assert both.nodes == 2
    assert both.levels[0] == pytest.approx(0.3)
    later = store.aggregate(["node-a", "node-b"], now=105.5)
    assert later.nodes == 1
    assert later.levels[0] == pytest.approx(0.1)
