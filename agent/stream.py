"""The pressure stream to the controller: a websocket fed from a bounded buffer.

The sampling loop only ever calls :meth:`StreamClient.offer`, which never blocks: it
appends to a bounded buffer that drops the oldest sample when full (old pressure is
worth less than new) and counts the drops. A separate task drains the buffer over an
aiohttp websocket and reconnects with jittered exponential backoff when the
connection fails; a sample leaves the buffer only once it was written.

The agent offers the wire's subprotocols newest first; when the controller chooses
``bamel.v2``, the connection opens with one host frame (the machine's DMI identity and
addresses). A controller that chooses none reads v1 and gets samples alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

import faults
from faults import BoundaryError
from wire import (
    HOST_VERSION,
    SUBPROTOCOLS,
    HostFacts,
    PressureSample,
    encode_host,
    encode_sample,
    version_of,
)

log = logging.getLogger(__name__)


class StreamError(ConnectionError, BoundaryError):
    """The stream could not connect or send; always retriable."""

    retriable = True


@dataclass
class Backoff(faults.Backoff):
    """The reconnect backoff: the shared rule with "equal jitter" on.

    The fixed half of each delay keeps a reconnecting fleet from hammering a
    restarted controller; the random half spreads the fleet out.
    """

    jitter: bool = True


class SampleBuffer:
    """A FIFO of encoded frames that drops the oldest when full and counts drops."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be ≥ 1, got {capacity}")
        self._frames: deque[str] = deque()
        self.capacity = capacity
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: str) -> bool:
        """Append; return True if the oldest frame was dropped to make room."""
        dropped = len(self._frames) >= self.capacity
        if dropped:
            self._frames.popleft()
            self.dropped += 1
        self._frames.append(frame)
        return dropped

    def peek(self) -> str | None:
        """The oldest frame, left in place until :meth:`pop` confirms it was sent."""
        return self._frames[0] if self._frames else None

    def pop(self) -> None:
        """Remove the oldest frame."""
        self._frames.popleft()


@dataclass
class StreamStats:
    """Counters the metrics endpoint reports."""

    sent: int = 0
    connects: int = 0
    failures: int = 0
    connected: bool = False


class StreamClient:
    """Streams samples to ``url`` with a bearer token read from ``token_file``."""

    def __init__(
        self,
        *,
        url: str,
        token_file: Path | None,
        buffer_size: int = 600,
        backoff: Backoff | None = None,
        on_drop: Callable[[], None] = lambda: None,
        host: Callable[[], HostFacts] | None = None,
    ) -> None:
        """host: reads the machine's facts, sent first on each v2 connection."""
        self.url = url
        self.token_file = token_file
        self.buffer = SampleBuffer(buffer_size)
        self.backoff = backoff or Backoff()
        self.stats = StreamStats()
        self._on_drop = on_drop
        self._host = host
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def offer(self, sample: PressureSample) -> None:
        """Queue a sample for sending; never blocks."""
        if self.buffer.push(encode_sample(sample)):
            self._on_drop()
        self._wake.set()

    def start(self) -> None:
        """Start the sending task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agent-stream")

    async def close(self) -> None:
        """Stop sending; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _headers(self) -> dict[str, str]:
        if self.token_file is None:
            return {}
        try:
            token = self.token_file.read_text().strip()
        except OSError as error:
            raise StreamError(f"cannot read token file {self.token_file}: {error}") from error
        return {"Authorization": f"Bearer {token}"}

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self._connection(session)
                except (TimeoutError, aiohttp.ClientError, OSError, StreamError) as error:
                    self.stats.failures += 1
                    log.warning("stream to %s failed: %s", self.url, error)
                finally:
                    self.stats.connected = False
                delay = self.backoff.next_delay()
                log.info("reconnecting to %s in %.2f s", self.url, delay)
                await asyncio.sleep(delay)

    async def _connection(self, session: aiohttp.ClientSession) -> None:
        """One connection's life: send everything buffered, then wait for more."""
        async with session.ws_connect(
            self.url, headers=self._headers(), heartbeat=10.0,
            timeout=aiohttp.ClientWSTimeout(ws_close=2.0), protocols=SUBPROTOCOLS,
        ) as ws:
            self.stats.connects += 1
            self.stats.connected = True
            self.backoff.reset()
            version = version_of(ws.protocol)
            log.info("stream connected to %s (wire v%d)", self.url, version)
            if version >= HOST_VERSION and self._host is not None:
                await ws.send_str(encode_host(self._host()))
            closed = asyncio.create_task(self._until_closed(ws), name="agent-stream-reader")
            try:
                await self._send_loop(ws, closed)
            finally:
                closed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closed

    async def _send_loop(
        self, ws: aiohttp.ClientWebSocketResponse, closed: asyncio.Task[None]
    ) -> None:
        while True:
            while (frame := self.buffer.peek()) is not None:
                if ws.closed or closed.done():
                    raise StreamError("connection closed by the controller")
                await ws.send_str(frame)
                self.buffer.pop()
                self.stats.sent += 1
            self._wake.clear()
            woken = asyncio.create_task(self._wake.wait())
            try:
                done, _ = await asyncio.wait({woken, closed},
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when cancelled: no task left pending behind the loop
                woken.cancel()
            if closed in done:
                raise StreamError("connection closed by the controller")

    @staticmethod
    async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read (and ignore) what the controller sends, so a close is seen at once."""
        async for message in ws:
            if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                break
