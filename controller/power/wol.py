"""The ``wol`` driver: wake a machine with a magic packet.

Wake-on-LAN can only switch on, and nothing answers: the packet is sent a few times
because UDP may drop one, and whether the machine woke is learned elsewhere (its
node turning Ready), so ``status`` says it cannot tell.

The MAC comes from the settings, else the machine's ``mac``, else the NIC addresses
its agent reported (``wake_macs`` is that one rule). An agent reports every physical
NIC and cannot tell which one wakes, so a learnt machine gets a packet for each: a
NIC ignores a packet that carries another's address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping

import wakeonlan
from pydantic import Field, ValidationError

from controller.config.schema import AutoscalerConfig, Mac, MachineSpec
from controller.power.errors import PowerError
from controller.power.protocol import PowerOperation, PowerState
from controller.power.settings import DriverSettings
from controller.power.target import Target

log = logging.getLogger(__name__)

NAME = "wol"


class WolSettings(DriverSettings):
    mac: Mac | None = None
    """Defaults to the machine's ``mac``, then to the MACs its agent reported."""
    broadcast: str = "255.255.255.255"
    """Where to send: the subnet's broadcast address, or a unicast address that relays."""
    interface: str | None = None
    """Local IP address to send from, to pick the NIC on a multi-homed controller."""
    port: int = Field(9, ge=1, le=65535)
    """9 (discard) is the common choice; some NICs listen on 7."""
    repeats: int = Field(3, ge=1, le=20)
    interval: float = Field(0.1, ge=0)
    """Seconds between repeats, so a switch's brief buffer overflow does not eat all."""


NO_MAC = ("no MAC address: set the machine's mac (or settings.mac), or let its agent "
          "report once (its NICs' MACs are then learnt)")
"""Why a machine cannot be woken yet; the build error and the start-up warning say it."""


def wake_macs(settings: WolSettings, machine: MachineSpec,
              learned: tuple[str, ...]) -> tuple[str, ...]:
    """The MACs to wake: configured (settings, then machine) or else every learnt one."""
    configured = settings.mac or machine.mac
    return (configured,) if configured else learned


class WolDriver:
    """Sends the magic packet; off and status are unsupported."""

    name = NAME
    capabilities = frozenset({PowerOperation.ON})

    def __init__(self, settings: WolSettings, *, machine: MachineSpec,
                 macs: tuple[str, ...]) -> None:
        self._settings = settings
        self._machine = machine
        self.macs = macs

    async def power_on(self) -> None:
        for attempt in range(self._settings.repeats):
            if attempt:
                await asyncio.sleep(self._settings.interval)
            for mac in self.macs:
                await self._send(mac)
        log.info("%s: sent %d magic packet(s) for %s to %s:%d", self._machine.name,
                 self._settings.repeats, ", ".join(self.macs), self._settings.broadcast,
                 self._settings.port)

    async def power_off(self, *, force: bool = False) -> None:
        raise self._error("Wake-on-LAN cannot power off")

    async def status(self) -> PowerState:
        raise self._error("Wake-on-LAN cannot read power state; use the node's readiness")

    async def close(self) -> None:
        """No socket is kept between packets."""

    async def _send(self, mac: str) -> None:
        try:
            await asyncio.to_thread(
                wakeonlan.wake,
                mac,
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


def build(settings: WolSettings, target: Target) -> WolDriver:
    """The registry's factory for ``wol``; the MACs come from ``wake_macs``."""
    macs = wake_macs(settings, target.machine, target.learned_macs)
    if not macs:
        raise PowerError(NO_MAC, category="rejected", driver=NAME, machine=target.machine.name)
    return WolDriver(settings, machine=target.machine, macs=macs)


def unwakeable(config: AutoscalerConfig,
               learned: Mapping[str, tuple[str, ...]]) -> Iterator[str]:
    """``machines[i].power.on: ...`` for each Wake-on-LAN machine with no MAC to send.

    Not a configuration error: naming a machine and letting its agent report is the
    intended way, and the agent can only report once the machine runs. Until then
    the machine cannot be woken, which the controller and ``bamel config check`` say.
    """
    for index, machine in enumerate(config.machines):
        action = machine.power.on
        if action.driver != NAME:
            continue
        try:
            settings = WolSettings.model_validate(dict(action.settings))
        except ValidationError:
            continue  # reported as a configuration error already
        if not wake_macs(settings, machine, learned.get(machine.name, ())):
            yield f"machines[{index}].power.on: {machine.name} cannot be woken yet: {NO_MAC}"
