"""Powering machines on and off through whatever each one has: BMCs, WoL, SSH, a program.

The controller sees one ``PowerDriver`` protocol and one ``PowerError`` family; only
the driver modules here talk to BMCs, and nothing here imports the Kubernetes client
(Secrets come in through an injected reader).
"""

from controller.power.credentials import (
    NO_CREDENTIALS,
    Credentials,
    SecretReader,
    credentials_from_mapping,
    load_credentials,
)
from controller.power.errors import CATEGORIES, Category, PowerError
from controller.power.machine import MachinePower, machine_power
from controller.power.protocol import PowerDriver, PowerMeter, PowerOperation, PowerState
from controller.power.registry import DRIVERS, Driver, build_driver
from controller.power.target import Target
from controller.power.wol import unwakeable

__all__ = [
    "CATEGORIES",
    "DRIVERS",
    "NO_CREDENTIALS",
    "Category",
    "Credentials",
    "Driver",
    "MachinePower",
    "PowerDriver",
    "PowerError",
    "PowerMeter",
    "PowerOperation",
    "PowerState",
    "SecretReader",
    "Target",
    "build_driver",
    "credentials_from_mapping",
    "load_credentials",
    "machine_power",
    "unwakeable",
]
