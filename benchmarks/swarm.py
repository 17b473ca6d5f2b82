"""A protocol load generator: thousands of agents streaming at 1 Hz from one process.

The controller benchmarks need 10,000+ websocket streams whose cost stays on the
generator's own core and well below the controller's, or the generator would be
what is measured. So each agent is a bare ``asyncio.Protocol`` that does the upgrade
handshake itself and then writes ready-made frames: the sample's JSON is encoded
once with ``wire.encode_sample`` and split around its timestamp and sequence
number, the only fields that change from one frame to the next. A frame costs the
generator about 16 µs, half what reading it costs the controller.

Frames are masked, as RFC 6455 requires of a client, with the all-zero key: the
payload goes out as is (the key only protects browsers' proxies from cache
poisoning, and the server unmasks whatever key it gets).

Each frame's ``timestamp`` is the generator's ``time.monotonic()`` when it was
written; on the same machine the controller's process reads the same clock, so
``receive time - timestamp`` is the frame's delay through the kernel and the
controller's queue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from benchmarks.procs import Child, ask_all, prepare, serve
from controller.ingest.server import STREAM_PATH
from wire import PressureSample, encode_sample

TICK = 0.01
"""Seconds per schedule slot: each agent sends in one of 1/TICK slots of every second."""
SLOTS = round(1.0 / TICK)
STEADY = {"cpu": 0.3, "memory": 0.3, "network": 0.1}
"""Background levels: between ``levelLow`` and ``levelHigh`` of the default thresholds."""
CONNECTING = 300.0
"""Seconds a generator may take to connect its share of a step's agents."""
_ZERO_MASK = b"\x00\x00\x00\x00"
_FIN_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x81, 0x8, 0x9, 0x8A


def node_name(index: int) -> str:
    return f"node-{index:05d}"


def agent_token(index: int, secret: str) -> str:
    """Agent ``index``'s bearer token: unguessable without the run's secret."""
    digest = hashlib.sha256(f"{secret}/{index}".encode()).hexdigest()
    return f"agent-{digest[:40]}"


def agent_tokens(count: int, secret: str) -> dict[str, str]:
    """Node → token for agents 0..count-1, as the controller's token Secret holds them."""
    return {node_name(i): agent_token(i, secret) for i in range(count)}


def ws_frame(payload: bytes) -> bytes:
    """One masked (zero key) final text frame carrying payload."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((_FIN_TEXT, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN_TEXT, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + _ZERO_MASK + payload


class SampleTemplate:
    """One node's sample as JSON with holes for the timestamp and the sequence number."""

    def __init__(self, node: str, levels: Mapping[str, float]) -> None:
        sample = PressureSample(
            node=node, boot_id=f"boot-{node}", macs=(), timestamp=0.0, seq=0, interval=1.0,
            levels=dict(levels), rates=dict.fromkeys(levels, 0.0),
            sources=dict.fromkeys(levels, "psi"))
        text = encode_sample(sample)
        head, tail = text.split(',"timestamp":', 1)
        self._prefix = (head + ',"timestamp":').encode()
        self._suffix = tail[tail.index(',"interval":'):].encode()

    def payload(self, timestamp: float, seq: int) -> bytes:
        return b"%s%.6f,\"seq\":%d%s" % (self._prefix, timestamp, seq, self._suffix)


class Refused(ConnectionError):
    """The controller answered the upgrade with something else than 101."""


class Agent(asyncio.Protocol):
    """One agent's connection: the upgrade, then frames out and pings answered."""

    def __init__(self, index: int, token: str, host: str, port: int) -> None:
        self.index = index
        self.node = node_name(index)
        self.template = SampleTemplate(self.node, STEADY)
        self.seq = 0
        self.slot = 0
        self.twice = False
        self.closed = False
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._request = (
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode()
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self.upgraded.done():
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if not found:
                return
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                self.upgraded.set_exception(Refused(status.decode(errors="replace")))
                self.close()
                return
            self.upgraded.set_result(None)
            self._buffer = rest
        self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the upgrade"))

    def send(self, levels: SampleTemplate | None = None) -> float:
        """Write the next frame now (with a new template when given); return its timestamp."""
        if levels is not None:
            self.template = levels
        self.seq += 1
        now = time.monotonic()
        if self._transport is not None and not self.closed:
            self._transport.write(ws_frame(self.template.payload(now, self.seq)))
        return now

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _read_frames(self) -> None:
        """Server frames are unmasked; answer pings, note a close, skip the rest."""
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                break
            payload, buffer = buffer[start:start + size], buffer[start + size:]
            if opcode == _OP_PING and self._transport is not None:
                self._transport.write(bytes((_OP_PONG, 0x80 | len(payload)))
                                      + _ZERO_MASK + payload)
            elif opcode == _OP_CLOSE:
                self.closed = True
        self._buffer = buffer


@dataclass
class Swarm:
    """Many agents in one process, each sending one frame a second in its own slot."""

    host: str
    port: int
    secret: str
    source: str = "127.0.0.1"
    """Local address to connect from: each address has its own ~28k ephemeral ports."""
    seed: int = 0
    agents: dict[int, Agent] = field(init=False, default_factory=dict)
    sent: int = field(init=False, default=0)
    refused: int = field(init=False, default=0)
    _slots: list[list[Agent]] = field(init=False,
                                      default_factory=lambda: [[] for _ in range(SLOTS)])

    async def connect(self, indices: list[int], *, concurrency: int = 128) -> int:
        """Connect agents ``indices`` (each starts streaming at once); return how many did."""
        gate = asyncio.Semaphore(concurrency)
        phases = random.Random(self.seed + len(self.agents))

        async def one(index: int) -> None:
            async with gate:
                agent = await self._open(index)
            if agent is None:
                self.refused += 1
                return
            agent.slot = phases.randrange(SLOTS)
            self.agents[index] = agent
            self._slots[agent.slot].append(agent)

        before = len(self.agents)
        await asyncio.gather(*(one(index) for index in indices))
        return len(self.agents) - before

    async def stream(self) -> None:
        """Send each agent's frame in its slot, every second, until cancelled."""
        loop = asyncio.get_running_loop()
        start, tick = loop.time(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * TICK - loop.time()))
            for agent in self._slots[tick % SLOTS]:
                if not agent.closed:
                    agent.send()
                    self.sent += 1

    async def spike(self, schedule: list[tuple[float, int]],
                    levels: dict[str, float]) -> list[tuple[int, float]]:
        """At each ``(seconds from now, agent)``, send that agent's frame at ``levels`` at
        once, and keep them in its later frames; return ``(agent, timestamp)`` of each."""
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), []
        for at, index in schedule:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            agent = self.agents[index]
            sent.append((index, agent.send(SampleTemplate(agent.node, levels))))
            self.sent += 1
        return sent

    async def double(self, count: int) -> int:
        """Have ``count`` agents (in all) send twice a second, the second frame half a
        second after the first: the frame rate of more agents than the descriptors allow.
        Return how many do."""
        doubled = sum(1 for agent in self.agents.values() if agent.twice)
        for agent in self.agents.values():
            if doubled >= count:
                break
            if not agent.twice:
                agent.twice = True
                self._slots[(agent.slot + SLOTS // 2) % SLOTS].append(agent)
                doubled += 1
        return doubled

    async def counts(self) -> tuple[int, int]:
        """Frames sent so far, and agents still connected."""
        return self.sent, sum(1 for agent in self.agents.values() if not agent.closed)

    def close(self) -> None:
        for agent in self.agents.values():
            agent.close()

    async def _open(self, index: int) -> Agent | None:
        loop = asyncio.get_running_loop()
        token = agent_token(index, self.secret)
        for attempt in range(3):
            agent: Agent | None = None
            try:
                _, agent = await loop.create_connection(
                    lambda: Agent(index, token, self.host, self.port), self.host, self.port,
                    local_addr=(self.source, 0))
                await asyncio.wait_for(agent.upgraded, 30)
            except Refused:
                return None
            except (OSError, TimeoutError):
                if agent is not None:
                    agent.close()
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            return agent
        return None


def connect(generators: list[Child], indices: range) -> None:
    """Have the generators connect agents ``indices``, dealt round-robin, all at once."""
    connected = sum(ask_all([(g, ("connect", list(indices[k::len(generators)])))
                             for k, g in enumerate(generators)], timeout=CONNECTING))
    if connected != len(indices):
        raise RuntimeError(f"only {connected} of {len(indices)} agents connected")


def main(conn: Connection, cpu: int, swarm: Swarm) -> None:
    """A generator process on ``cpu``: stream from every agent swarm connects, and answer
    the parent."""
    prepare(cpu)
    asyncio.run(_serve(conn, swarm))


async def _serve(conn: Connection, swarm: Swarm) -> None:
    streaming = asyncio.create_task(swarm.stream(), name="stream")
    try:
        await serve(conn, {"connect": swarm.connect, "double": swarm.double,
                           "counts": swarm.counts, "spike": swarm.spike})
    finally:
        streaming.cancel()
        swarm.close()
