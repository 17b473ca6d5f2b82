"""Fixtures for the power tests: machines built from settings, and the real peers.

Every peer is started here from ``lab.peers`` (the same launchers ``bamel lab`` uses)
on 127.0.0.1, and stopped by PID when the test or module is done.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from controller.config.schema import MachineSpec
from controller.power import Credentials
from lab.peers import IpmiSim, Sshd, SushyEmulator, WolListener, fake_systems

PASSWORD = "s3cret-Pa55"
"""Distinctive, so a leak test can search every captured text for it."""

CREDENTIALS = Credentials(username="admin", password=PASSWORD)


def make_machine(
    on: dict[str, Any], off: dict[str, Any] | None = None, **fields: Any
) -> MachineSpec:
    """A machine whose power actions are the given ``{"driver": ..., "settings": ...}``."""
    return MachineSpec.model_validate({
        "name": fields.pop("name", "node-1"),
        "pool": fields.pop("pool", "general"),
        "capacity": {"cpu": "8", "memory": "32Gi"},
        "mac": fields.pop("mac", "52:54:00:12:34:56"),
        "power": {"on": on, "off": off or on},
        **fields,
    })


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    """A fresh ipmi_sim BMC, chassis off, user admin with PASSWORD."""
    with IpmiSim(username="admin", password=PASSWORD) as sim:
        yield sim


@pytest.fixture
async def wol_listener() -> AsyncIterator[WolListener]:
    async with WolListener() as listener:
        yield listener


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG and up, for leak checks."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture(scope="module")
def redfish_tls() -> Iterator[SushyEmulator]:
    """One sushy-emulator for the module: basic auth, TLS, four systems (one per test)."""
    systems = fake_systems(4, prefix="rf")
    with SushyEmulator(systems, username="admin", password=PASSWORD, tls=True) as emulator:
        yield emulator


@pytest.fixture
def sshd() -> Iterator[Sshd]:
    """A real sshd whose one authorized key runs the recording forced command."""
    with Sshd() as server:
        yield server
