"""The BMCs' own power readings, for the energy meter: rate-limited, time-bounded, per machine.

A BMC that measures its chassis's draw (Redfish ``PowerConsumedWatts``, IPMI DCMI
power reading) knows better than the watts model in the configuration: the model
knows only idle and busy figures and a CPU pressure level. A reading is slow,
though: a BMC web server takes a second or more per request, and an IPMI reading is
a session of its own in a worker process. So each machine is read at most every
``energy.bmcInterval``, a reading may take at most ``energy.bmcTimeout``, at most
MAX_CONCURRENT run at once, and the meter never waits for one: it starts the
reads that are due and goes on integrating with what it has.

A reading stands only while the machine stays in the state it was read in (the
record's state and its ``since``): a machine that powers off after a reading of
300 W does not go on drawing 300 W until the next one. Until then the model counts.

A BMC that answers that it has no reading (``unsupported``: no DCMI, no Power
resource) is asked again only after UNSUPPORTED_RECHECK, and said once in the log.
A failed or slow reading is not a failed BMC call for quarantine
(``controller.quarantine``): power calls and status reads decide that, and a
reading the BMC does not offer says nothing about whether it can switch power.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.actuation import PowerFor
from controller.config import EnergySpec, MachineSpec
from controller.machines import MachineRecord
from controller.planning import MachineState
from controller.power import PowerError

log = logging.getLogger(__name__)

MAX_CONCURRENT = 4
"""Readings in flight at once: like the power sync's reads, a large fleet must not
flood a shared BMC network or start dozens of IPMI worker processes together."""

UNSUPPORTED_RECHECK = 3600.0
"""Seconds before a BMC that said it has no reading is asked again: a firmware
update may add one, and once an hour costs nothing."""

Start = Callable[[Coroutine[Any, Any, None], str], object]
"""Starts a reading as a task of the meter's (its task group), by name."""


@dataclass(frozen=True)
class Reading:
    watts: float
    state: MachineState
    since: float
    """The record's state and ``since`` when the reading began: it stands until they change."""


class PowerReadings:
    """Starts due readings without waiting for them; ``watts`` is what stands now."""

    def __init__(self, *, power_for: PowerFor, records: Mapping[str, MachineRecord],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._power_for = power_for
        self._records = records
        self._clock = clock
        self._readings: dict[str, Reading] = {}
        self._due: dict[str, float] = {}
        """When each machine may be read next (clock seconds); absent: now."""
        self._reading: set[str] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._said: set[str] = set()

    def watts(self, name: str, record: MachineRecord) -> float | None:
        """The BMC's reading of the machine if one stands for its current state."""
        reading = self._readings.get(name)
        if reading is None or (reading.state, reading.since) != (record.state, record.since):
            return None
        return reading.watts

    def start_due(self, machines: Sequence[MachineSpec], settings: EnergySpec, *,
                  start: Start) -> None:
        """Start a reading of every machine that is due and not being read."""
        names = {spec.name for spec in machines}
        for gone in self._readings.keys() - names:
            del self._readings[gone]
        if not settings.read_bmc:
            self._readings.clear()
            return
        now = self._clock()
        for spec in machines:
            if spec.name in self._reading or self._due.get(spec.name, now) > now:
                continue
            self._due[spec.name] = now + settings.bmc_interval
            self._reading.add(spec.name)
            start(self._read(spec, within=settings.bmc_timeout), f"power-reading {spec.name}")

    async def _read(self, spec: MachineSpec, *, within: float) -> None:
        try:
            async with self._slots:
                record = self._records.get(spec.name, MachineRecord())
                watts = await self._measure(spec, within=within)
            if watts is not None:
                self._readings[spec.name] = Reading(watts, record.state, record.since)
        finally:
            self._reading.discard(spec.name)

    async def _measure(self, spec: MachineSpec, *, within: float) -> float | None:
        """The BMC's watts, or None (no meter, no answer in time, a refusal)."""
        try:
            async with asyncio.timeout(within):
                power = await self._power_for(spec)
                if not power.meters:
                    self._no_reading(spec, f"{spec.power.on.driver} and "
                                           f"{spec.power.off.driver} read no power draw")
                    return None
                return await power.power_watts()
        except TimeoutError:
            log.info("%s: no power reading within %g s: the model counts", spec.name, within)
        except PowerError as error:
            if error.category == "unsupported":
                self._no_reading(spec, str(error))
            else:
                log.info("%s: power reading failed: %s; the model counts", spec.name, error)
        return None

    def _no_reading(self, spec: MachineSpec, why: str) -> None:
        self._due[spec.name] = self._clock() + UNSUPPORTED_RECHECK
        self._readings.pop(spec.name, None)
        if spec.name not in self._said:
            self._said.add(spec.name)
            log.info("%s: no power reading from its BMC (%s): metered by the model",
                     spec.name, why)
