"""The ``command`` driver: run a program the operator chose, like Slurm's ResumeProgram.

This is the escape hatch for everything without a driver of its own (Proxmox,
libvirt, smart PDUs): the argv template is filled from the machine's fields and run
without a shell, so a machine name can never inject one. Credentials reach the
program through its environment (``BAMEL_USERNAME``, ``BAMEL_PASSWORD``), never its
argv, which any user on the host can read in ``ps``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import string
from dataclasses import dataclass

from pydantic import Field, field_validator

from controller.config.schema import MachineSpec
from controller.power.credentials import Credentials
from controller.power.errors import Category, PowerError
from controller.power.protocol import PowerOperation, PowerState
from controller.power.settings import DriverSettings
from controller.power.target import Target

log = logging.getLogger(__name__)

NAME = "command"
OUTPUT_LIMIT = 4000
"""Characters of output kept in a result and an error: enough to diagnose, bounded."""
PLACEHOLDERS = ("action", "mac", "name", "pool")
"""What an argv template may name; anything else is a typo found by the config check."""


class CommandSettings(DriverSettings):
    argv: list[str] = Field(min_length=1)
    """Program and arguments; ``{name}``, ``{pool}``, ``{mac}``, ``{action}`` are filled."""
    status_argv: list[str] | None = None
    """Optional program printing ``on`` or ``off``; without it status is unsupported."""
    timeout: float = Field(60.0, gt=0)
    """Seconds before the program is killed: a hung PDU must not hang the controller."""
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("argv", "status_argv")
    @classmethod
    def _known_placeholders(cls, template: list[str] | None) -> list[str] | None:
        sample = dict.fromkeys(PLACEHOLDERS, "")
        for part in template or []:
            try:
                string.Formatter().vformat(part, (), sample)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"bad placeholder in {part!r}: {error}; "
                                 f"known: {', '.join(PLACEHOLDERS)}") from None
        return template


@dataclass(frozen=True)
class CommandResult:
    """What one run did, kept for events and for tests."""

    argv: tuple[str, ...]
    exit_code: int
    output: str


class CommandDriver:
    """Runs ``argv`` for on and off (``{action}`` tells them apart), ``status_argv`` for status."""

    name = NAME

    def __init__(
        self, settings: CommandSettings, *, machine: MachineSpec, credentials: Credentials
    ) -> None:
        self._settings = settings
        self._machine = machine
        self._credentials = credentials
        self.capabilities = frozenset(
            operation for operation in PowerOperation
            if operation is not PowerOperation.STATUS or settings.status_argv
        )
        self.results: list[CommandResult] = []

    async def power_on(self) -> None:
        await self._run_checked(self._settings.argv, PowerOperation.ON)

    async def power_off(self, *, force: bool = False) -> None:
        operation = PowerOperation.FORCE_OFF if force else PowerOperation.OFF
        await self._run_checked(self._settings.argv, operation)

    async def status(self) -> PowerState:
        if not self._settings.status_argv:
            raise self._error("no statusArgv configured", "unsupported")
        result = await self._run_checked(self._settings.status_argv, PowerOperation.STATUS)
        words = result.output.split()
        word = words[0].lower() if words else ""
        return {"on": PowerState.ON, "off": PowerState.OFF}.get(word, PowerState.UNKNOWN)

    async def close(self) -> None:
        """Nothing is held between runs."""

    async def _run_checked(self, template: list[str],
                           action: PowerOperation) -> CommandResult:
        result = await self._run(self._fill(template, action))
        self.results.append(result)
        log.info(
            "%s: command %s exited %d", self._machine.name, result.argv[0], result.exit_code
        )
        if result.exit_code != 0:
            raise self._error(
                f"{result.argv[0]} exited {result.exit_code}: {result.output.strip()}",
                "rejected",
            )
        return result

    async def _run(self, argv: list[str]) -> CommandResult:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self._environment(),
            )
        except OSError as error:
            raise self._error(f"cannot run {argv[0]}: {error.strerror}", "rejected") from error
        try:
            async with asyncio.timeout(self._settings.timeout):
                output, _ = await process.communicate()
        except TimeoutError as error:
            process.kill()
            await process.wait()
            raise self._error(
                f"{argv[0]} still running after {self._settings.timeout:g} s; killed", "timeout"
            ) from error
        text = self._credentials.redact(output.decode(errors="replace"))[-OUTPUT_LIMIT:]
        return CommandResult(tuple(argv), process.returncode or 0, text)

    def _fill(self, template: list[str], action: PowerOperation) -> list[str]:
        """The template with PLACEHOLDERS filled (the settings schema admits no other)."""
        fields = {"name": self._machine.name, "pool": self._machine.pool,
                  "mac": self._machine.mac or "", "action": action.value}
        return [string.Formatter().vformat(part, (), fields) for part in template]

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self._settings.env, "BAMEL_MACHINE": self._machine.name}
        if self._credentials.username:
            env["BAMEL_USERNAME"] = self._credentials.username
        if self._credentials.password:
            env["BAMEL_PASSWORD"] = self._credentials.password
        return env

    def _error(self, message: str, category: Category) -> PowerError:
        return PowerError(message, category=category, driver=NAME, machine=self._machine.name)


def build(settings: CommandSettings, target: Target) -> CommandDriver:
    """The registry's factory for ``command``."""
    return CommandDriver(settings, machine=target.machine, credentials=target.credentials)
