"""The ``ipmi`` driver: chassis power over IPMI-over-LAN (RMCP+) with pyghmi.

pyghmi is blocking, so every call runs in its own thread with a timeout
(``controller.power.blocking``). A BMC that does not answer within ``timeout`` is
unreachable; one that answers but whose chassis does not reach the target state
within ``powerTimeout`` is a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field
from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi.command import Command
from pyghmi.ipmi.private import session as pyghmi_session

from controller.config.schema import MachineSpec
from controller.power import pollselect
from controller.power.blocking import run_blocking
from controller.power.credentials import Credentials, require_login
from controller.power.errors import Category, PowerError
from controller.power.protocol import FORCE_OFF, OFF, ON, STATUS, PowerState
from controller.power.settings import DriverSettings, parse_settings

log = logging.getLogger(__name__)

# pyghmi's I/O thread uses select(), which fails past descriptor 1024 (see pollselect).
pollselect.install(pyghmi_session)

NAME = "ipmi"

_AUTH_MARKERS = ("password", "unauthorized", "rakp", "privilege", "authentication")
_UNREACHABLE_MARKERS = ("no longer connected", "timeout", "unreachable", "no response")
_INVALID_COMMAND = 0xC1


class _LibraryFault(Exception):
    """pyghmi raised something other than its own errors: worth one more try."""


class IpmiSettings(DriverSettings):
    host: str
    port: int = Field(623, ge=1, le=65535)
    username: str | None = None
    """Overrides the credentials' username when set."""
    timeout: float = Field(10.0, gt=0)
    """Seconds one BMC exchange (login, command) may take before it counts as unreachable."""
    wait: bool = True
    """Poll until the chassis reports the target state; False returns once accepted."""
    power_timeout: float = Field(120.0, gt=0)
    """Seconds for the chassis to reach the target state; servers take tens of seconds."""
    poll_interval: float = Field(1.0, gt=0)


class IpmiDriver:
    """On, soft off (ACPI shutdown), hard off and status of one BMC."""

    name = NAME
    capabilities = frozenset({ON, OFF, FORCE_OFF, STATUS})

    def __init__(self, settings: IpmiSettings, *, machine: str, username: str,
                 password: str) -> None:
        self._settings = settings
        self._machine = machine
        self._username = username
        self._password = password
        self._command: Command | None = None
        self._depth = 0

    async def power_on(self) -> None:
        async with self._scope():
            await self._change("on", PowerState.ON)

    async def power_off(self, *, force: bool = False) -> None:
        async with self._scope():
            await self._change("off" if force else "shutdown", PowerState.OFF)

    async def status(self) -> PowerState:
        async with self._scope():
            reply = await self._call("status", lambda command: command.get_power())
        return {"on": PowerState.ON, "off": PowerState.OFF}.get(
            str(reply.get("powerstate")), PowerState.UNKNOWN
        )

    async def close(self) -> None:
        """Nothing is held: each operation logs in and out (see ``_scope``)."""
        await self._logout()

    @contextlib.asynccontextmanager
    async def _scope(self) -> AsyncIterator[None]:
        """One BMC session per operation (its polling included), logged out at the end.

        An idle session is dropped by the BMC after its timeout while pyghmi still
        holds it as valid, and the next call hangs on it; a controller is idle for
        hours between power operations, so it never keeps one. Logging out also
        frees one of the BMC's few session slots.
        """
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                await self._logout()

    async def _logout(self) -> None:
        command, self._command = self._command, None
        if command is None:
            return
        try:
            await run_blocking(command.ipmi_session.logout, within=self._settings.timeout,
                               name=f"ipmi-logout-{self._machine}")
        except Exception as error:  # a failed logout must not fail the power operation
            log.debug("%s: ipmi logout failed: %s", self._machine, type(error).__name__)

    async def _change(self, request: str, target: PowerState) -> None:
        if await self.status() == target:
            return
        await self._call(request, lambda command: command.set_power(request))
        log.info("%s: ipmi %s accepted", self._machine, request)
        if self._settings.wait:
            await self._wait_for(target, request)

    async def _wait_for(self, target: PowerState, request: str) -> None:
        try:
            async with asyncio.timeout(self._settings.power_timeout):
                while True:
                    if await self.status() == target:
                        return
                    await asyncio.sleep(self._settings.poll_interval)
        except TimeoutError:
            raise self._error(
                f"{request}: chassis not {target.value} after {self._settings.power_timeout:g} s",
                "timeout",
            ) from None

    async def _call(self, what: str, operation: Any) -> Any:
        """Run ``operation(command)`` in a thread, converting every failure to PowerError.

        pyghmi has races of its own (a session marked broken before its error
        message is set surfaces as AttributeError): such a library fault gets one
        more try on a fresh session before it is reported.
        """
        try:
            return await self._attempt(what, operation)
        except _LibraryFault:
            return await self._attempt(what, operation, last=True)

    async def _attempt(self, what: str, operation: Any, *, last: bool = False) -> Any:
        def blocking() -> Any:
            return operation(self._session())

        try:
            return await run_blocking(blocking, within=self._settings.timeout,
                                      name=f"ipmi-{what}-{self._machine}")
        except TimeoutError:
            self._command = None
            raise self._error(
                f"{what}: no answer from {self._where()} within {self._settings.timeout:g} s",
                "unreachable",
            ) from None
        except (pyghmi_errors.PyghmiException, OSError) as error:
            self._command = None
            raise self._convert(what, error) from error
        except Exception as error:
            self._command = None
            if not last:
                raise _LibraryFault from error
            raise PowerError(f"{what} at {self._where()}: pyghmi failed: "
                             f"{type(error).__name__}", category="rejected", retriable=True,
                             driver=NAME, machine=self._machine) from error

    def _session(self) -> Command:
        """The logged-in client, created on first use (in the worker thread: login blocks)."""
        if self._command is None:
            # Bytes, not str: pyghmi matches its pooled sessions against the encoded
            # user and password; with str it never matches and a second client for the
            # same BMC waits forever on the first one's finished login.
            self._command = Command(bmc=self._settings.host, port=self._settings.port,
                                    userid=self._username.encode(),
                                    password=self._password.encode())
        return self._command

    def _convert(self, what: str, error: Exception) -> PowerError:
        text = str(error).replace(self._password, "***") if self._password else str(error)
        lowered = text.lower()
        category: Category = "rejected"
        if lowered in ("", "none"):
            # pyghmi gives up a session that never got an answer without a message.
            text, category = "no answer (no IPMI session could be established)", "unreachable"
        elif any(marker in lowered for marker in _AUTH_MARKERS):
            category = "auth"
        elif isinstance(error, OSError) or any(m in lowered for m in _UNREACHABLE_MARKERS):
            category = "unreachable"
        elif getattr(error, "ipmicode", 0) == _INVALID_COMMAND:
            category = "unsupported"
        return self._error(f"{what} at {self._where()}: {text}", category)

    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def _error(self, message: str, category: Category) -> PowerError:
        return PowerError(message, category=category, driver=NAME, machine=self._machine)


def build(
    settings: dict[str, Any], *, machine: MachineSpec, credentials: Credentials
) -> IpmiDriver:
    """The registry's factory for ``ipmi``: host in settings, user and password in credentials."""
    parsed = parse_settings(IpmiSettings, settings, driver=NAME, machine=machine.name)
    username, password = require_login(credentials, parsed.username, driver=NAME,
                                       machine=machine.name)
    return IpmiDriver(parsed, machine=machine.name, username=username,
                      password=password)
