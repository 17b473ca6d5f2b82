"""The stream against a real aiohttp websocket server, including one that hangs up."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.identity import NodeIdentity
from agent.procfs import ProcReader
from agent.runner import Agent
from agent.sampler import Sampler
from agent.settings import AgentSettings
from agent.stream import Backoff, StreamClient
from tests.wire.test_host import FACTS
from wire import PressureSample, decode_frame

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"
SAMPLE = PressureSample(
    node="n1", boot_id="b", macs=("52:54:00:00:00:01",), timestamp=1.0, seq=0, interval=1.0,
    levels={"cpu": 0.1}, rates={"cpu": 0.0}, sources={"cpu": "psi"},
)


class Controller:
    """A websocket endpoint that checks the token, decodes frames, and can hang up."""

    def __init__(self, *, hang_up_after: int | None = None) -> None:
        self.frames: list[PressureSample] = []
        self.connections = 0
        self.rejected = 0
        self.hang_up_after = hang_up_after
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.rejected += 1
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        received = 0
        async for message in ws:
            self.frames.append(decode_frame(message.data))
            self.got.set()
            received += 1
            if self.hang_up_after is not None and received >= self.hang_up_after:
                self.hang_up_after = None  # only the first connection is cut
                await ws.close()
        return ws

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.frames) < count:
                self.got.clear()
                await self.got.wait()


async def serve(controller: Controller) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/v1/stream", controller.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"ws://127.0.0.1:{port}/v1/stream"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
async def client_factory(token_file: Path) -> AsyncIterator[list[StreamClient]]:
    clients: list[StreamClient] = []
    yield clients
    for client in clients:
        await client.close()


async def test_frames_arrive_in_order_with_the_token(
    token_file: Path, client_factory: list[StreamClient]
) -> None:
    controller = Controller()
    runner, url = await serve(controller)
    try:
        client = StreamClient(url=url, token_file=token_file)
        client_factory.append(client)
        client.start()
        for seq in range(5):
            client.offer(replace(SAMPLE, seq=seq))
        await controller.wait_for(5)
        assert [f.seq for f in controller.frames] == [0, 1, 2, 3, 4]
        assert controller.rejected == 0
    finally:
        await runner.cleanup()


async def test_a_controller_from_before_v2_gets_samples_only(
    token_file: Path, client_factory: list[StreamClient]
) -> None:
    """This controller chooses no subprotocol and reads every frame as a v1 sample, as
    controllers before wire v2 do: the agent holds its host frame back."""
    controller = Controller()
    runner, url = await serve(controller)
    try:
        client = StreamClient(url=url, token_file=token_file, host=lambda: FACTS)
        client_factory.append(client)
        client.start()
        for seq in range(4):
            client.offer(replace(SAMPLE, seq=seq))
        await controller.wait_for(4)
        assert [f.seq for f in controller.frames] == [0, 1, 2, 3]
        assert client.stats.connects == 1
    finally:
        await runner.cleanup()


async def test_reconnects_after_the_server_hangs_up(
    token_file: Path, client_factory: list[StreamClient]
) -> None:
    controller = Controller(hang_up_after=2)
    runner, url = await serve(controller)
    try:
        client = StreamClient(url=url, token_file=token_file,
                              backoff=Backoff(base_s=0.05, cap_s=0.2))
        client_factory.append(client)
        client.start()
        for seq in range(2):
            client.offer(replace(SAMPLE, seq=seq))
        await controller.wait_for(2)
        await asyncio.sleep(0.2)  # the hang-up is seen, a reconnect is scheduled
        for seq in range(2, 6):
            client.offer(replace(SAMPLE, seq=seq))
        await controller.wait_for(6)
        assert controller.connections == 2
        assert [f.seq for f in controller.frames] == list(range(6))
        assert client.stats.connects == 2
    finally:
        await runner.cleanup()


async def test_buffers_while_down_drops_oldest_then_delivers(
    token_file: Path, client_factory: list[StreamClient]
) -> None:
    with socket.socket() as sock:  # a port with nothing listening yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1/stream"
    client = StreamClient(url=url, token_file=token_file, buffer_size=3,
                          backoff=Backoff(base_s=0.05, cap_s=0.1))
    client_factory.append(client)
    client.start()
    for seq in range(5):
        client.offer(replace(SAMPLE, seq=seq))  # never blocks, though nobody listens
    await asyncio.sleep(0.3)
    assert client.stats.failures >= 1
    assert client.buffer.dropped == 2
    controller = Controller()
    app = web.Application()
    app.router.add_get("/v1/stream", controller.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await controller.wait_for(3)
        assert [f.seq for f in controller.frames] == [2, 3, 4]
    finally:
        await runner.cleanup()


async def test_wrong_token_is_refused_and_retried(
    tmp_path: Path, client_factory: list[StreamClient]
) -> None:
    controller = Controller()
    runner, url = await serve(controller)
    bad = tmp_path / "bad"
    bad.write_text("nope")
    try:
        client = StreamClient(url=url, token_file=bad, backoff=Backoff(base_s=0.05, cap_s=0.1))
        client_factory.append(client)
        client.start()
        client.offer(SAMPLE)
        await asyncio.sleep(0.4)
        assert controller.rejected >= 2
        assert controller.frames == []
    finally:
        await runner.cleanup()


class SteppedProc(ProcReader):
    """PSI counters that advance by a fixed stall every read (a deterministic source)."""

    def __init__(self) -> None:
        super().__init__()
        self.stall = 0.0

    def read(self, resource: str) -> dict[str, float]:
        self.stall += 0.05e9
        return {"stall_ns": self.stall}


async def test_agent_streams_and_serves_metrics_and_health(token_file: Path) -> None:
    controller = Controller()
    runner, url = await serve(controller)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        metrics_port = sock.getsockname()[1]
    settings = AgentSettings(controller=url, token_file=token_file, interval_s=0.2,
                             check_interval_s=0.05, metrics_port=metrics_port, use_bpf=False)
    sampler = Sampler(resources=("cpu",), use_bpf=False, proc=SteppedProc())
    agent = Agent(settings, sampler=sampler,
                  identity=NodeIdentity("node-x", "boot-1", ("52:54:00:00:00:02",)))
    task = asyncio.create_task(agent.run())
    try:
        await controller.wait_for(3)
        sample = controller.frames[-1]
        assert sample.node == "node-x"
        assert sample.macs == ("52:54:00:00:00:02",)
        assert sample.sources == {"cpu": "psi"}
        assert [f.seq for f in controller.frames[:3]] == [0, 1, 2]
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{metrics_port}"
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
        assert 'bamel_agent_pressure_level{resource="cpu"}' in text
        assert 'bamel_agent_pressure_source{resource="cpu",source="psi"} 1.0' in text
        assert "bamel_agent_stream_dropped_samples_total 0.0" in text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()


@pytest.mark.root
def test_once_print_falls_back_when_bcc_is_missing(shadow_bcc: Callable[..., Path]) -> None:
    shadow_bcc()
    result = subprocess.run(
        [sys.executable, "-m", "bamel", "agent", "--once", "--print", "--interval", "0.3"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    body = json.loads(result.stdout)
    assert body["sources"] == {"cpu": "psi", "memory": "psi", "network": "proc"}
    assert set(body["levels"]) == {"cpu", "memory", "network"}
    assert "BCC is not available" in result.stderr


@pytest.mark.root
def test_once_print_uses_the_probes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bamel", "agent", "--once", "--print", "--interval", "0.3"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    body = json.loads(result.stdout)
    assert body["sources"] == {"cpu": "ebpf", "memory": "ebpf", "network": "ebpf"}
    assert all(0.0 <= v <= 1.0 for v in body["levels"].values())
