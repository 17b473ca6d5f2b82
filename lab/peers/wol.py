"""A UDP listener on 127.0.0.1 that keeps every datagram, standing in for a sleeping NIC.

A NIC in Wake-on-LAN mode wakes on a frame holding six 0xff bytes then its MAC
sixteen times; this listener lets a test check those exact 102 bytes arrived.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from lab.peers.process import LOOPBACK

MAGIC_LENGTH = 102


def magic_packet(mac: str) -> bytes:
    """The magic packet a NIC with ``mac`` wakes on."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    return b"\xff" * 6 + raw * 16


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, received: asyncio.Queue[bytes]) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._received.put_nowait(data)


class WolListener:
    """``async with WolListener() as listener:`` then ``listener.port``, ``listener.next()``."""

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.packets: list[bytes] = []
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> WolListener:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Collector(self._queue), local_addr=(LOOPBACK, 0)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def next(self, within: float = 5.0) -> bytes:
        """The next datagram; TimeoutError if none comes in ``within`` s."""
        async with asyncio.timeout(within):
            packet = await self._queue.get()
        self.packets.append(packet)
        return packet

    async def drain(self, quiet: float = 0.3) -> list[bytes]:
        """Every datagram until none arrives for ``quiet`` s."""
        while True:
            try:
                await self.next(quiet)
            except TimeoutError:
                return self.packets

    def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> WolListener:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.stop()
