"""The ``ssh`` driver: ask the machine's own OS to shut down (asyncssh).

Often the only clean way off for a machine woken by Wake-on-LAN. The host key is
checked against a known_hosts file (or one carried in the credentials): a power-off
command with a root key must not go to whoever answers on that address. Unknown keys
are trusted only when ``trustUnknownHosts`` says so. A shutdown may drop the
connection before an exit status comes back; that counts as done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncssh
from pydantic import Field

from controller.power.credentials import Credentials
from controller.power.errors import Category, PowerError
from controller.power.protocol import PowerOperation, PowerState
from controller.power.settings import DriverSettings
from controller.power.target import Target

log = logging.getLogger(__name__)

NAME = "ssh"
OUTPUT_LIMIT = 2000


class SshSettings(DriverSettings):
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None
    """Defaults to the credentials' username, then root."""
    command: str = "systemctl poweroff"
    force_command: str = "systemctl poweroff --force"
    """Skips stopping services but still syncs and unmounts: faster, still safe for disks."""
    known_hosts: str | None = None
    """Path of a known_hosts file; else the credentials' known_hosts, else ~/.ssh/known_hosts."""
    trust_unknown_hosts: bool = False
    """Skip host key checks entirely: for a lab only, it lets anyone take the command."""
    connect_timeout: float = Field(10.0, gt=0)
    command_timeout: float = Field(60.0, gt=0)


class SshDriver:
    """Graceful and forced power-off through a shell command; no on, no status."""

    name = NAME
    capabilities = frozenset({PowerOperation.OFF, PowerOperation.FORCE_OFF})

    def __init__(self, settings: SshSettings, *, machine: str, credentials: Credentials) -> None:
        self._settings = settings
        self._machine = machine
        self._credentials = credentials
        self._user = settings.user or credentials.username or "root"

    async def power_on(self) -> None:
        raise self._error("SSH cannot power a machine on", "unsupported")

    async def power_off(self, *, force: bool = False) -> None:
        command = self._settings.force_command if force else self._settings.command
        exit_status, output = await self._run(command)
        if exit_status not in (0, None):
            raise self._error(f"{command!r} exited {exit_status}: {output.strip()}", "rejected")
        log.info("%s: ssh %r sent to %s (exit %s)", self._machine, command, self._where(),
                 "none: connection closed" if exit_status is None else exit_status)

    async def status(self) -> PowerState:
        raise self._error("SSH cannot read power state; use the node's readiness or a BMC",
                          "unsupported")

    async def close(self) -> None:
        """A connection is opened per command and closed after it."""

    async def _run(self, command: str) -> tuple[int | None, str]:
        try:
            async with asyncio.timeout(self._settings.connect_timeout):
                connection = await asyncssh.connect(**self._connect_options())
            async with connection, asyncio.timeout(self._settings.command_timeout):
                result = await connection.run(command, check=False)
        except asyncssh.HostKeyNotVerifiable as error:
            raise self._error(f"host key of {self._where()} is not in known_hosts",
                              "auth") from error
        except asyncssh.PermissionDenied as error:
            raise self._error(f"{self._user}@{self._where()} refused the key", "auth") from error
        except asyncssh.ConnectionLost:
            return None, ""  # the machine went down under us: the shutdown is under way
        except (asyncssh.Error, OSError) as error:
            raise self._error(f"cannot reach {self._where()}: {error}", "unreachable") from error
        except TimeoutError as error:
            raise self._error(f"no answer from {self._where()} in time", "unreachable") from error
        output = _text(result.stdout) + _text(result.stderr)
        return result.exit_status, self._credentials.redact(output)[-OUTPUT_LIMIT:]

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "host": self._settings.host, "port": self._settings.port,
            "username": self._user, "known_hosts": self._known_hosts(),
            "agent_path": None, "config": None, "client_keys": None,
            "password": self._credentials.password,
        }
        if self._credentials.private_key:
            try:
                options["client_keys"] = [asyncssh.import_private_key(
                    self._credentials.private_key, self._credentials.passphrase)]
            except (asyncssh.KeyImportError, ValueError):
                # The import error may quote the key: drop it.
                raise self._error("the private key in the credentials cannot be read",
                                  "auth") from None
        return options

    def _known_hosts(self) -> Any:
        if self._settings.trust_unknown_hosts:
            return None
        if self._settings.known_hosts:
            return self._settings.known_hosts
        if self._credentials.known_hosts:
            return asyncssh.import_known_hosts(self._credentials.known_hosts)
        return ()  # asyncssh's default: ~/.ssh/known_hosts

    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def _error(self, message: str, category: Category) -> PowerError:
        return PowerError(message, category=category, driver=NAME, machine=self._machine)


def _text(stream: object) -> str:
    return stream.decode(errors="replace") if isinstance(stream, bytes) else str(stream or "")


def build(settings: SshSettings, target: Target) -> SshDriver:
    """The registry's factory for ``ssh``: host in settings, key in credentials."""
    return SshDriver(settings, machine=target.machine.name, credentials=target.credentials)
