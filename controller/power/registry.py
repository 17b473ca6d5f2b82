"""Drivers chosen by name: the configuration says ``driver: ipmi``, the registry builds it.

A new way of reaching machines is one module with a ``build`` factory and one line
here; nothing else in the controller changes. Only drivers that reach real machines
are registered: the recording driver of the unit tests lives in the tests and is
added there, per test, so a production configuration that names it is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.config.schema import MachineSpec, PowerAction
from controller.power import command, ipmi, redfish, ssh, wol
from controller.power.credentials import Credentials
from controller.power.errors import PowerError
from controller.power.protocol import PowerDriver

DriverFactory = Callable[..., PowerDriver]
"""``factory(settings: dict, *, machine: MachineSpec, credentials: Credentials)``."""

DRIVERS: dict[str, DriverFactory] = {
    "ipmi": ipmi.build,
    "redfish": redfish.build,
    "wol": wol.build,
    "ssh": ssh.build,
    "command": command.build,
}


def build_driver(
    action: PowerAction, *, machine: MachineSpec, credentials: Credentials
) -> PowerDriver:
    """The driver for one power action of one machine; settings are validated here."""
    factory = DRIVERS.get(action.driver)
    if factory is None:
        raise PowerError(
            f"unknown driver {action.driver!r}; known: {', '.join(sorted(DRIVERS))}",
            category="unsupported", machine=machine.name,
        )
    settings: dict[str, Any] = dict(action.settings)
    return factory(settings, machine=machine, credentials=credentials)
