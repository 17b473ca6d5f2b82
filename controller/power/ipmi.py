"""The ``ipmi`` driver: chassis power over IPMI-over-LAN, one worker process per operation.

pyghmi holds process-wide state: pooled sessions, one I/O thread and two locks that
threads retrying a silent BMC can take in opposite orders. Once they deadlock, no
IPMI call in the process returns again, so one dead BMC would cost the controller
every other machine. Each operation therefore runs in a process of its own, forked
by the worker server (``controller.power.ipmi_worker``, which has pyghmi loaded:
a fork costs milliseconds where a new interpreter costs 0.4 s of CPU) and killed if
it overruns its deadline, so nothing it leaves behind reaches the next operation.
The request, credentials included, travels over a pipe, never in arguments that
``ps`` shows.
"""

from __future__ import annotations

from typing import Any

from controller.power.credentials import require_login
from controller.power.errors import CATEGORIES, Category, PowerError
from controller.power.ipmi_settings import NAME, READING, IpmiSettings
from controller.power.ipmi_workers import WorkerGone, workers
from controller.power.protocol import PowerOperation, PowerState
from controller.power.target import Target

STARTUP_GRACE = 10.0
"""Seconds allowed on top of the BMC timeouts for the worker to start and report."""


class IpmiDriver:
    """On, soft off (ACPI shutdown), hard off and status of one BMC."""

    name = NAME
    capabilities = frozenset(PowerOperation)

    def __init__(self, settings: IpmiSettings, *, machine: str, username: str,
                 password: str) -> None:
        self._settings = settings
        self._machine = machine
        self._username = username
        self._password = password

    async def power_on(self) -> None:
        await self._run(PowerOperation.ON)

    async def power_off(self, *, force: bool = False) -> None:
        await self._run(PowerOperation.FORCE_OFF if force else PowerOperation.OFF)

    async def status(self) -> PowerState:
        return PowerState((await self._run(PowerOperation.STATUS))["state"])

    async def power_watts(self) -> float:
        """The DCMI power reading (``PowerMeter``); unsupported when the BMC has no DCMI."""
        return float((await self._run(READING))["watts"])

    async def close(self) -> None:
        """Nothing is held between operations: each worker logs in and out."""

    def deadline(self, operation: str) -> float:
        """Seconds the worker may take: its own timeouts, then a grace to start and answer.

        A status (or a power reading) is at most two tries and a logout; a change
        adds the command and the wait for the chassis.
        """
        exchanges = 3 * self._settings.timeout
        if operation in (PowerOperation.STATUS, READING):
            return exchanges + STARTUP_GRACE
        waiting = self._settings.power_timeout if self._settings.wait else 0.0
        return 2 * exchanges + waiting + STARTUP_GRACE

    async def _run(self, operation: str) -> dict[str, Any]:
        """The worker's answer (``state`` for status, ``watts`` for a reading), or its
        PowerError."""
        request = {"operation": operation, "machine": self._machine,
                   "settings": self._settings.model_dump(mode="json"),
                   "username": self._username, "password": self._password}
        try:
            message = await workers().run(request, deadline=self.deadline(operation))
        except WorkerGone as gone:
            raise self._error(f"{operation}: {gone}", "unreachable") from None
        if message.get("stopped"):
            raise self._error(
                f"{operation}: no answer from {self._where()} within "
                f"{self.deadline(operation):g} s (worker stopped)", "unreachable")
        if "answer" not in message:
            raise self._error(f"{operation}: ipmi worker ended without an answer "
                              f"(exit {message.get('died')})", "rejected")
        return self._read_answer(message["answer"])

    def _read_answer(self, answer: dict[str, Any]) -> dict[str, Any]:
        if answer.get("ok"):
            return answer
        failure = answer.get("error") or {}
        category = failure.get("category")
        raise PowerError(
            str(failure.get("message", "unknown failure")),
            category=category if category in CATEGORIES else "rejected",
            retriable=bool(failure.get("retriable", False)),
            driver=NAME, machine=self._machine,
        )

    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def _error(self, message: str, category: Category) -> PowerError:
        return PowerError(message, category=category, driver=NAME, machine=self._machine)

    def __repr__(self) -> str:
        return f"IpmiDriver(machine={self._machine!r}, bmc={self._where()!r})"


def build(settings: IpmiSettings, target: Target) -> IpmiDriver:
    """The registry's factory for ``ipmi``: host in settings, user and password in credentials."""
    machine = target.machine.name
    username, password = require_login(target.credentials, settings.username, driver=NAME,
                                       machine=machine)
    return IpmiDriver(settings, machine=machine, username=username, password=password)
