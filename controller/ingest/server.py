"""The websocket endpoint agents stream to (``/v1/stream``).

Each connection is bound at upgrade time to the node its token speaks for. Every
frame is decoded against the wire schema; a bad one is dropped and counted by
reason, and a connection that keeps sending them is closed (1008). Nothing a
client sends can raise out of the handler.

The controller accepts the wire's subprotocols (``bamel.v2``, ``bamel.v1``): an agent
that offers v2 may open with a host frame (its machine's DMI identity and addresses),
which goes to ``on_host``; an agent that offers none speaks v1, samples only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from controller.ingest.auth import Authenticator
from controller.ingest.store import PressureStore
from controller.metrics import ControllerMetrics
from wire import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    SUBPROTOCOLS,
    FrameError,
    HostFacts,
    PressureSample,
    decode_message,
    version_of,
)

log = logging.getLogger(__name__)

STREAM_PATH = "/v1/stream"
MAX_REJECTS_PER_CONNECTION = 20
"""A well-behaved agent never sends a bad frame; this many means a broken or hostile one."""

SampleHook = Callable[[PressureSample, bool], None]
"""Called after each accepted sample with whether it crossed a threshold."""
HostHook = Callable[[HostFacts], None]
"""Called with each accepted host frame."""


@dataclass
class IngestStats:
    frames: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    closed_for_rejects: int = 0


class IngestServer:
    """Accepts agent streams into a PressureStore and tells the controller of crossings."""

    def __init__(self, *, store: PressureStore, authenticator: Authenticator,
                 metrics: ControllerMetrics, on_sample: SampleHook | None = None,
                 crossed: Callable[[PressureSample], bool] | None = None,
                 on_host: HostHook | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.authenticator = authenticator
        self.metrics = metrics
        self.stats = IngestStats()
        self._on_sample = on_sample
        self._crossed = crossed
        self._on_host = on_host
        self._clock = clock
        """Receive times are stamped with it: it must be the clock the store is read with."""
        self._sockets: set[web.WebSocketResponse] = set()

    def routes(self) -> list[web.RouteDef]:
        """The ingest route, to be mounted on the controller's application."""
        return [web.get(STREAM_PATH, self._stream)]

    async def close(self) -> None:
        """Close every agent connection (agents reconnect to the next leader)."""
        sockets, self._sockets = self._sockets, set()
        await asyncio.gather(*(ws.close(code=1001, message=b"controller stopping")
                               for ws in sockets), return_exceptions=True)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        node = await self.authenticator.node_for(request.headers.get("Authorization"))
        if node is None:
            self._reject("unauthorized")
            raise web.HTTPUnauthorized(text="a valid bearer token is required\n")
        ws = web.WebSocketResponse(max_msg_size=4 * MAX_FRAME_BYTES, heartbeat=30.0,
                                   protocols=SUBPROTOCOLS)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.metrics.connections.inc()
        try:
            await self._receive(ws, node, version_of(ws.ws_protocol))
        finally:
            self._sockets.discard(ws)
            self.metrics.connections.dec()
        return ws

    async def _receive(self, ws: web.WebSocketResponse, node: str, version: int) -> None:
        rejects = 0
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                reason = self.accept(message.data, node, version=version)
            elif message.type is WSMsgType.ERROR:
                self._reject(_error_reason(ws.exception()))
                return
            else:
                continue
            if reason is None:
                continue
            rejects += 1
            if rejects >= MAX_REJECTS_PER_CONNECTION:
                self.stats.closed_for_rejects += 1
                log.warning("closing the stream of %s after %d bad frames", node, rejects)
                await ws.close(code=1008, message=b"too many bad frames")
                return

    def accept(self, data: str | bytes, node: str, *,
               version: int = PROTOCOL_VERSION) -> str | None:
        """Decode and store one frame from node's connection (speaking wire version);
        return the reject reason when it misbehaves, None when it was taken or was a
        stale replay (counted too)."""
        try:
            message = decode_message(data, version=version)
        except FrameError as error:
            self._reject(error.reason)
            return error.reason
        if message.node != node:
            self._reject("forged")
            return "forged"
        if isinstance(message, HostFacts):
            self._count()
            if self._on_host is not None:
                self._on_host(message)
            return None
        return self._sampled(message)

    def _sampled(self, sample: PressureSample) -> str | None:
        if not self.store.update(sample, now=self._clock()):
            self._reject("stale")
            return None  # a replay after reconnect is not misbehaviour
        self._count()
        if self._on_sample is not None:
            crossed = self._crossed(sample) if self._crossed is not None else False
            self._on_sample(sample, crossed)
        return None

    def _count(self) -> None:
        self.stats.frames += 1
        self.metrics.frames.inc()

    def _reject(self, reason: str) -> None:
        self.stats.rejected[reason] += 1
        self.metrics.rejects.labels(reason=reason).inc()


def _error_reason(error: BaseException | None) -> str:
    """aiohttp closes with 1009 on a frame above max_msg_size; anything else is malformed."""
    code = getattr(error, "code", None)
    return "oversized" if code == WSCloseCode.MESSAGE_TOO_BIG else "malformed"
