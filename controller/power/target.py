"""What a driver is built for: the machine as configured, its secrets, what it reported.

A factory needs more than its settings: the machine's name and fields (a command
fills ``{pool}``), its credentials, and details the machine told the controller
itself (the NIC addresses its agent streams, which Wake-on-LAN needs when the
configuration names none). One value carries them, so a new detail reaches the
drivers that want it without changing every factory's signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.schema import MachineSpec
from controller.power.credentials import NO_CREDENTIALS, Credentials


@dataclass(frozen=True)
class Target:
    machine: MachineSpec
    credentials: Credentials = NO_CREDENTIALS
    learned_macs: tuple[str, ...] = ()
    """The machine's NIC addresses as its agent last reported them; empty until it has."""
