"""One machine's power: the driver that switches it on and the one that switches it off.

They may differ (Wake-on-LAN on, SSH off), so the controller talks to this pair and
never needs to know which driver can read the power state.
"""

from __future__ import annotations

from controller.config.schema import MachineSpec, PowerAction
from controller.power.credentials import Credentials
from controller.power.errors import PowerError
from controller.power.protocol import PowerDriver, PowerMeter, PowerOperation, PowerState
from controller.power.registry import build_driver


class MachinePower:
    """Delegates on to ``on_driver``, off to ``off_driver``, status to whichever can read it."""

    def __init__(self, machine: str, *, on_driver: PowerDriver, off_driver: PowerDriver) -> None:
        self.machine = machine
        self.on_driver = on_driver
        self.off_driver = off_driver

    @property
    def capabilities(self) -> frozenset[PowerOperation]:
        """What this machine supports as a whole."""
        caps = {PowerOperation.ON} & self.on_driver.capabilities
        caps |= {PowerOperation.OFF, PowerOperation.FORCE_OFF} & self.off_driver.capabilities
        if self._status_driver() is not None:
            caps.add(PowerOperation.STATUS)
        return frozenset(caps)

    async def power_on(self) -> None:
        await self.on_driver.power_on()

    async def power_off(self, *, force: bool = False) -> None:
        if force and PowerOperation.FORCE_OFF not in self.off_driver.capabilities:
            raise PowerError(
                "forced power-off is not supported", category="unsupported",
                driver=self.off_driver.name, machine=self.machine,
            )
        await self.off_driver.power_off(force=force)

    async def status(self) -> PowerState:
        """The state from the off-driver, else the on-driver; unsupported if neither reads it."""
        driver = self._status_driver()
        if driver is None:
            raise PowerError(
                f"neither {self.on_driver.name} nor {self.off_driver.name} can read power "
                "state; it comes from the node's readiness",
                category="unsupported", machine=self.machine,
            )
        return await driver.status()

    @property
    def meters(self) -> bool:
        """Whether one of the drivers can read the machine's draw from its BMC."""
        return self._meter() is not None

    async def power_watts(self) -> float:
        """The draw the BMC measures, from the off-driver, else the on-driver (as for
        status); unsupported if neither can read one."""
        meter = self._meter()
        if meter is None:
            raise PowerError(
                f"neither {self.on_driver.name} nor {self.off_driver.name} reads power "
                "draw", category="unsupported", machine=self.machine,
            )
        return await meter.power_watts()

    async def close(self) -> None:
        """Close both drivers (once when they are the same object)."""
        await self.on_driver.close()
        if self.off_driver is not self.on_driver:
            await self.off_driver.close()

    def _status_driver(self) -> PowerDriver | None:
        for driver in (self.off_driver, self.on_driver):
            if PowerOperation.STATUS in driver.capabilities:
                return driver
        return None


    def _meter(self) -> PowerMeter | None:
        for driver in (self.off_driver, self.on_driver):
            if isinstance(driver, PowerMeter):
                return driver
        return None


def machine_power(machine: MachineSpec, credentials: Credentials, *,
                  learned_macs: tuple[str, ...] = ()) -> MachinePower:
    """Build the pair; identical on and off actions share one driver (one BMC session)."""
    def build(action: PowerAction) -> PowerDriver:
        return build_driver(action, machine=machine, credentials=credentials,
                            learned_macs=learned_macs)

    on_driver = build(machine.power.on)
    off_driver = on_driver if machine.power.off == machine.power.on else build(machine.power.off)
    return MachinePower(machine.name, on_driver=on_driver, off_driver=off_driver)
