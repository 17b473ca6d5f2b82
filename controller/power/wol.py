"""The ``wol`` driver: wake a machine with a magic packet.

Wake-on-LAN can only switch on, and nothing answers: the packet is sent a few times
because UDP may drop one, and whether the machine woke is learned elsewhere (its
node turning Ready), so ``status`` says it cannot tell.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import wakeonlan
from pydantic import Field

from controller.config.schema import Mac, MachineSpec
from controller.power.credentials import Credentials
from controller.power.errors import PowerError
from controller.power.protocol import PowerOperation, PowerState
from controller.power.settings import DriverSettings, parse_settings

log = logging.getLogger(__name__)

NAME = "wol"


class WolSettings(DriverSettings):
    mac: Mac | None = None
    """Defaults to the machine's ``mac``."""
    broadcast: str = "255.255.255.255"
    """Where to send: the subnet's broadcast address, or a unicast address that relays."""
    interface: str | None = None
    """Local IP address to send from, to pick the NIC on a multi-homed controller."""
    port: int = Field(9, ge=1, le=65535)
    """9 (discard) is the common choice; some NICs listen on 7."""
    repeats: int = Field(3, ge=1, le=20)
    interval: float = Field(0.1, ge=0)
    """Seconds between repeats, so a switch's brief buffer overflow does not eat all."""


class WolDriver:
    """Sends the magic packet; off and status are unsupported."""

    name = NAME
    capabilities = frozenset({PowerOperation.ON})

    def __init__(self, settings: WolSettings, *, machine: MachineSpec, mac: str) -> None:
        self._settings = settings
        self._machine = machine
        self._mac = mac

    async def power_on(self) -> None:
        for attempt in range(self._settings.repeats):
            if attempt:
                await asyncio.sleep(self._settings.interval)
            await self._send()
        log.info("%s: sent %d magic packet(s) to %s:%d", self._machine.name,
                 self._settings.repeats, self._settings.broadcast, self._settings.port)

    async def power_off(self, *, force: bool = False) -> None:
        raise self._error("Wake-on-LAN cannot power off")

    async def status(self) -> PowerState:
        raise self._error("Wake-on-LAN cannot read power state; use the node's readiness")

    async def close(self) -> None:
        """No socket is kept between packets."""

    async def _send(self) -> None:
        try:
            await asyncio.to_thread(
                wakeonlan.wake,
                self._mac,
                host=self._settings.broadcast,
                port=self._settings.port,
                interface=self._settings.interface,
            )
        except OSError as error:
            raise PowerError(
                f"cannot send to {self._settings.broadcast}:{self._settings.port}: "
                f"{error.strerror or error}",
                category="unreachable", driver=NAME, machine=self._machine.name,
            ) from error

    def _error(self, message: str) -> PowerError:
        return PowerError(message, category="unsupported", driver=NAME,
                          machine=self._machine.name)


def build(settings: dict[str, Any], *, machine: MachineSpec, credentials: Credentials) -> WolDriver:
    """The registry's factory for ``wol``; the MAC comes from settings or the machine."""
    parsed = parse_settings(WolSettings, settings, driver=NAME, machine=machine.name)
    mac = parsed.mac or machine.mac
    if not mac:
        raise PowerError("no MAC address: set settings.mac or the machine's mac",
                         category="rejected", driver=NAME, machine=machine.name)
    return WolDriver(parsed, machine=machine, mac=mac)
