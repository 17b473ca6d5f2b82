"""A power driver that only records what it was asked, for unit tests; never in production.

It keeps a power state, so status follows on and off, and can be told to fail the
next call of an operation with a given ``PowerError`` to exercise retry paths. It is
not in the production registry: a test whose configuration names ``driver: fake``
asks for the ``fake_power_driver`` fixture, which registers it for that test only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import Field

from controller.power.errors import PowerError
from controller.power.protocol import PowerOperation, PowerState
from controller.power.registry import DRIVERS, Driver
from controller.power.settings import DriverSettings
from controller.power.target import Target

NAME = "fake"


class FakeDriver:
    """Records ``(operation, machine)`` in ``calls``; ``failures[operation]`` is raised once."""

    name = NAME
    capabilities = frozenset(PowerOperation)

    def __init__(
        self, *, machine: str = "fake", state: PowerState = PowerState.OFF, delay: float = 0.0
    ) -> None:
        self.machine = machine
        self.state = state
        self.delay = delay
        self.calls: list[tuple[str, str]] = []
        self.failures: dict[str, PowerError] = {}
        self.closed = 0

    async def power_on(self) -> None:
        await self._record(PowerOperation.ON)
        self.state = PowerState.ON

    async def power_off(self, *, force: bool = False) -> None:
        await self._record(PowerOperation.FORCE_OFF if force else PowerOperation.OFF)
        self.state = PowerState.OFF

    async def status(self) -> PowerState:
        await self._record(PowerOperation.STATUS)
        return self.state

    async def close(self) -> None:
        self.closed += 1

    async def _record(self, operation: PowerOperation) -> None:
        self.calls.append((operation, self.machine))
        if self.delay:
            await asyncio.sleep(self.delay)
        failure = self.failures.pop(operation, None)
        if failure is not None:
            raise failure


class FakeSettings(DriverSettings):
    state: PowerState = PowerState.OFF
    delay: float = Field(0.0, ge=0)
    """Seconds each call takes."""


def build(settings: FakeSettings, target: Target) -> FakeDriver:
    """The registry's factory for ``fake``: ``state`` (on/off) and ``delay`` (s) settings."""
    return FakeDriver(machine=target.machine.name, state=settings.state, delay=settings.delay)


@pytest.fixture
def fake_power_driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeDriver]]:
    """``driver: fake`` in the registry for this test only; removed again after it."""
    monkeypatch.setitem(DRIVERS, NAME, Driver(FakeSettings, build))
    yield FakeDriver
