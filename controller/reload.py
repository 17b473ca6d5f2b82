"""Configuration hot reload: a changed ConfigMap applies without a restart.

Two sources feed one ``ConfigReloader``: a ConfigMap followed by an informer (the
change arrives within a second of ``kubectl apply``), or a mounted file checked
every few seconds (a mounted ConfigMap is replaced by the kubelet within about a
minute anyway, and a local run has no cluster object to watch). A new text is
validated in full before anything changes; an invalid one is logged with every
problem, counted in ``bamel_controller_config_reloads{result="invalid"}`` and,
for a ConfigMap, reported as a Warning Event on it. The running configuration
stays as it was. A valid new one replaces the configuration in the
``ConfigHolder``, which is how every component hears of it.

Machines declared as BareMetalNode objects (``controller.config.inventory``) reach
the same reloader through ``declare`` and ``withdraw``: the configuration in force
is always the last valid document plus the declared machines, checked together,
so a document that drops a declared machine's pool, or names a machine a
BareMetalNode declares, is rejected like any invalid text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from controller.config import (
    AutoscalerConfig,
    ConfigError,
    ConfigHolder,
    MachineSpec,
    load_config_text,
    with_declared,
)
from controller.metrics import ControllerMetrics
from controller.power import DRIVERS
from controller.tasks import Spawn, cancel_and_wait, spawn_task

log = logging.getLogger(__name__)

CONFIG_KEY = "config.yaml"
"""The ConfigMap key holding the AutoscalerConfig document."""

Complain = Callable[[str], Awaitable[None]]


class ConfigReloader:
    """Validates offered texts and declared machines; puts in force the combinations
    that differ from the running configuration."""

    def __init__(self, holder: ConfigHolder, *, metrics: ControllerMetrics) -> None:
        self.holder = holder
        self._metrics = metrics
        self.document: AutoscalerConfig = holder.current
        """The last valid configuration document, without declared machines."""
        self.declared: dict[str, MachineSpec] = {}
        """Machines declared by BareMetalNode objects, by name."""

    async def offer(self, text: str, *, origin: str, complain: Complain | None = None) -> bool:
        """Apply text if valid and new; True when the running configuration changed."""
        try:
            document = load_config_text(text, drivers=DRIVERS)
            config = with_declared(document, self.declared)
        except ConfigError as error:
            self._metrics.config_reloads.labels("invalid").inc()
            log.error("configuration from %s rejected, keeping the running one: %s",
                      origin, error)
            if complain is not None:
                await complain(f"configuration rejected, the previous one stays: {error}")
            return False
        self.document = document
        return self._apply(config, origin)

    def declare(self, machine: MachineSpec) -> None:
        """Add or change a declared machine (checked alone by ``declared_machine``);
        ConfigError, and nothing changes, when it clashes with the document."""
        declared = {**self.declared, machine.name: machine}
        config = with_declared(self.document, declared)
        self.declared = declared
        self._apply(config, f"BareMetalNode/{machine.name}")

    def withdraw(self, name: str) -> None:
        """A declared machine is no longer managed (its object is being deleted)."""
        if self.declared.pop(name, None) is not None:
            self._apply(with_declared(self.document, self.declared),
                        f"BareMetalNode/{name} withdrawn")

    def _apply(self, config: AutoscalerConfig, origin: str) -> bool:
        if config == self.holder.current:
            return False
        self.holder.replace(config)
        self._metrics.config_reloads.labels("applied").inc()
        log.info("configuration from %s applied", origin)
        return True


class FileWatcher:
    """Offers a file's text to the reloader whenever its content changes."""

    def __init__(self, path: Path, reloader: ConfigReloader, *, every: float = 2.0,
                 spawn: Spawn = spawn_task) -> None:
        self.path = path
        self.reloader = reloader
        self.every = every
        """Seconds between checks: a hash of a few kilobytes, nothing to save on."""
        self._spawn = spawn
        self._digest = ""
        """Of the text last offered: none yet, so the first check offers the file, and an
        edit made before the watch began (a standby waiting for leadership) is not lost;
        the reloader ignores a text whose configuration is the one running."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.check()
        self._task = self._spawn(self._run(), name=f"config-file {self.path}")

    async def close(self) -> None:
        """Stop watching; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None

    async def check(self) -> None:
        """Offer the file once if it changed since the last check."""
        text, digest = self._read_digest()
        if text is not None and digest != self._digest:
            self._digest = digest
            await self.reloader.offer(text, origin=str(self.path))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.check()

    def _read_digest(self) -> tuple[str | None, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            log.warning("configuration file %s unreadable: %s", self.path, error)
            return None, ""
        return text, hashlib.sha256(text.encode()).hexdigest()
