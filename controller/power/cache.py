"""One MachinePower per machine, reused between actions and renewed when it may be stale.

A driver holds a BMC session (IPMI) or an HTTP session (Redfish); building one per
action would log in every time and leak sessions. A cached pair is rebuilt when
the machine's configuration changed (a hot reload), when its last action failed
(the credentials may have been rotated in their Secret), when the machine's agent
reported other NIC addresses (Wake-on-LAN sends to them), and after ``max_age``
seconds, so a rotated Secret is picked up without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.config.schema import MachineSpec
from controller.power.credentials import SecretReader, load_credentials
from controller.power.machine import MachinePower, machine_power


@dataclass
class _Entry:
    spec: MachineSpec
    learned_macs: tuple[str, ...]
    power: MachinePower
    built: float


class MachinePowerCache:
    """``get(spec)`` returns the machine's power pair, building it when needed."""

    def __init__(self, *, secret_reader: SecretReader | None, max_age: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.secret_reader = secret_reader
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    async def get(self, spec: MachineSpec, *,
                  learned_macs: tuple[str, ...] = ()) -> MachinePower:
        """The cached pair for spec and what the machine reported, or a new one (the
        stale one is closed)."""
        entry = self._entries.get(spec.name)
        if entry is not None and (entry.spec, entry.learned_macs) == (spec, learned_macs) \
                and self.clock() - entry.built < self.max_age:
            return entry.power
        await self.forget(spec.name)
        credentials = await load_credentials(spec.power.credentials,
                                             secret_reader=self.secret_reader)
        power = machine_power(spec, credentials, learned_macs=learned_macs)
        self._entries[spec.name] = _Entry(spec, learned_macs, power, self.clock())
        return power

    async def forget(self, name: str) -> None:
        """Close and drop the machine's pair (after a failure, or when it left the config)."""
        entry = self._entries.pop(name, None)
        if entry is not None:
            await entry.power.close()

    async def close(self) -> None:
        """Close every pair; safe to call twice."""
        for name in list(self._entries):
            await self.forget(name)
