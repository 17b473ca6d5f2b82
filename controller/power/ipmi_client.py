"""IPMI-over-LAN (RMCP+) chassis power with pyghmi, inside one worker process.

Only ``controller.power.ipmi_worker`` uses this module: pyghmi keeps sessions, locks
and an I/O thread for the whole process, and two of its locks can be taken in
opposite orders by threads whose BMC stopped answering, after which no IPMI call in
the process ever returns. The ``ipmi`` driver therefore runs each operation here, in
a process of its own that is killed if it overruns (see ``controller.power.ipmi``).

pyghmi is blocking, so every call runs in its own thread with a timeout
(``controller.power.blocking``). A BMC that does not answer within ``timeout`` is
unreachable; one that answers but whose chassis does not reach the target state
within ``powerTimeout`` is a timeout.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi.command import Command
from pyghmi.ipmi.private import session as pyghmi_session

from controller.power.blocking import run_blocking
from controller.power.errors import Category, PowerError
from controller.power.ipmi_settings import NAME, IpmiSettings
from controller.power.polling import reaches
from controller.power.protocol import PowerState

log = logging.getLogger(__name__)

WAIT_SLICE = 0.05
"""Longest single wait for the BMC's answer before pyghmi looks at its queue again."""

_pyghmi_io_wait = pyghmi_session._io_wait


def _io_wait_in_slices(timeout: float, myaddr: Any = None, evq: Any = None) -> None:
    """pyghmi's ``_io_wait``, never longer than WAIT_SLICE.

    pyghmi can lose a wake-up: when a BMC's answer arrives between sending the
    request and registering to wait for it, the waiter sleeps until its retry
    timeout (0.5 to 1 s) although the answer is already queued; several workers
    starting at once hit it on most logins. Every caller of ``_io_wait`` loops
    until its answer is processed or its own deadline passes, so an early return
    only makes it look at the queue again.
    """
    _pyghmi_io_wait(min(timeout, WAIT_SLICE), myaddr, evq)


pyghmi_session._io_wait = _io_wait_in_slices

_AUTH_MARKERS = ("password", "unauthorized", "rakp", "privilege", "authentication")
_UNREACHABLE_MARKERS = ("no longer connected", "timeout", "unreachable", "no response")
_INVALID_COMMAND = 0xC1


class _LibraryFault(Exception):
    """pyghmi raised something other than its own errors: worth one more try."""


class PyghmiClient:
    """On, soft off (ACPI shutdown), hard off and status of one BMC, in this process."""

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

    async def power_watts(self) -> float:
        """The DCMI "Get Power Reading" (pyghmi's ``get_system_power_watts``); a BMC
        without DCMI answers "invalid command", which is ``unsupported``."""
        async with self._scope():
            return float(await self._call("power reading",
                                          lambda command: command.get_system_power_watts()))

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
        if not await reaches(self.status, target, within=self._settings.power_timeout,
                             every=self._settings.poll_interval):
            raise self._error(
                f"{request}: chassis not {target.value} after {self._settings.power_timeout:g} s",
                "timeout",
            )

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

