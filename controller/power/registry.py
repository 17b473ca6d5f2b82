"""Drivers chosen by name: the configuration says ``driver: ipmi``, the registry builds it.

A new way of reaching machines is one module with a settings model and a ``build``
factory, and one line here; nothing else in the controller changes. The settings
model is the one rule for that driver's keys: the configuration loader checks it
(offline, at ``bamel config check``, start and reload) and ``build_driver`` parses
with it. Only drivers that reach real machines are registered: the recording
driver of the unit tests lives in the tests and is added there, per test, so a
production configuration that names it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic

from controller.config.schema import MachineSpec, PowerAction
from controller.power import command, ipmi, ipmi_settings, redfish, ssh, wol
from controller.power.credentials import NO_CREDENTIALS, Credentials
from controller.power.errors import PowerError
from controller.power.protocol import PowerDriver
from controller.power.settings import SettingsT, parse_settings, settings_problems
from controller.power.target import Target


@dataclass(frozen=True)
class Driver(Generic[SettingsT]):
    """One registered driver: its settings schema and the factory that takes them parsed."""

    settings: type[SettingsT]
    build: Callable[[SettingsT, Target], PowerDriver]

    def settings_problems(self, settings: Mapping[str, Any]) -> list[str]:
        """``settings.key: reason`` for each bad key, without credentials or network."""
        return settings_problems(self.settings, settings)

    def create(self, settings: Mapping[str, Any], *, name: str, target: Target) -> PowerDriver:
        """Parse with the same schema the check uses, then build."""
        parsed = parse_settings(self.settings, settings, driver=name,
                                machine=target.machine.name)
        return self.build(parsed, target)


DRIVERS: dict[str, Driver[Any]] = {
    ipmi_settings.NAME: Driver(ipmi_settings.IpmiSettings, ipmi.build),
    redfish.NAME: Driver(redfish.RedfishSettings, redfish.build),
    wol.NAME: Driver(wol.WolSettings, wol.build),
    ssh.NAME: Driver(ssh.SshSettings, ssh.build),
    command.NAME: Driver(command.CommandSettings, command.build),
}


def build_driver(
    action: PowerAction, *, machine: MachineSpec, credentials: Credentials = NO_CREDENTIALS,
    learned_macs: tuple[str, ...] = (),
) -> PowerDriver:
    """The driver for one power action of one machine; settings are validated here."""
    driver = DRIVERS.get(action.driver)
    if driver is None:
        raise PowerError(
            f"unknown driver {action.driver!r}; known: {', '.join(sorted(DRIVERS))}",
            category="unsupported", machine=machine.name,
        )
    target = Target(machine, credentials, learned_macs)
    return driver.create(action.settings, name=action.driver, target=target)
