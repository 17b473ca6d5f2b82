"""Power-state truth: read every machine's power now and then, and notice what a person changed.

The records say what the controller did; only the BMC says what a machine is. A
person at the console or on the BMC's web page may switch a machine on or off, and
a record that still says otherwise makes later decisions wrong: an off machine
counted as capacity, an on machine drawing power the fleet figures leave out.
OpenStack Ironic's conductor reads every node's power on a timer for this reason
(its power sync); this is that loop.

Each machine is read every ``powerSync.interval`` seconds, and the reads are
bounded: at most ``maxConcurrent`` at once and ``readsPerSecond`` started, so a
fleet of hundreds never floods the BMC network or the IPMI worker processes. A
machine with an action in flight is skipped, since its power is changing under the
actuator's hand and a read would race it; so is one whose drivers cannot read
power (Wake-on-LAN with SSH), which is said once.

A drift is a machine in a settled state (``off`` or ``ready``) whose power is not
the recorded one. It is shown first (a ``PowerStateDrift`` Event, the
``bamel_controller_power_drift_total`` metric, a log line), then recorded and
resolved by ``powerSync.policy``: ``adopt`` (the default) takes what the person
did as the truth, a ready machine switched off becomes ``off`` and an off machine
switched on is recorded as on and left on; ``restore`` switches it back.

The same loop probes quarantined machines (``controller.quarantine``), every
``quarantine.probeInterval`` instead; the first read that answers releases one.
A failed read is an Event (``PowerStatusFailed``), a metric and a step towards
quarantine, like a failed power call. The service runs this only on the leader,
as a supervised root task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from controller import quarantine
from controller.actuation import Actuator, ForgetPower, MachineEvents, PowerFor
from controller.config import AutoscalerConfig, MachineSpec
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState
from controller.power import PowerError, PowerOperation, PowerState
from faults import BoundaryError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Restore = Callable[[str, PowerState], None]
"""Switch machine back to the given power, as an action the reactor owns."""

IDLE_RECHECK = 60.0
"""Seconds between looks at the configuration while the sync is turned off."""


def recorded_power(record: MachineRecord) -> PowerState | None:
    """The power the record stands for, in a settled state; None while it is moving or
    in error (an error's power is whatever the failure left: nothing to compare)."""
    if record.state is not MachineState.OFF and record.state is not MachineState.READY:
        return None
    if record.power_state in (PowerState.ON.value, PowerState.OFF.value):
        return PowerState(record.power_state)
    return PowerState.ON if record.state is MachineState.READY else PowerState.OFF


def adopted(record: MachineRecord, observed: PowerState, now: float) -> MachineRecord:
    """record once it takes the observed power as the truth (``powerSync.policy: adopt``).

    A ready machine switched off is off: its Node is gone with it, and the planner
    may power it on again when its pool needs capacity, as any off machine. An off
    machine switched on stays ``off`` with its power recorded on: it is not part of
    the pool until the planner powers it on (which then only waits for its Node),
    and nothing switches it off behind the person's back.
    """
    if record.state is MachineState.READY and observed is PowerState.OFF:
        return record.moved(MachineState.OFF, now, power_state="off", kubernetes_node="",
                            last_action="adopted power-off")
    return dataclasses.replace(record, power_state=observed.value,
                               last_action=f"adopted power-{observed.value}")


class PowerSync:
    """Reads machines' power when due; ``run()`` until cancelled, or ``sync_once()``."""

    def __init__(self, *, config: Callable[[], AutoscalerConfig], actuator: Actuator,
                 power_for: PowerFor, busy: Callable[[str], bool], restore: Restore,
                 events: MachineEvents, metrics: ControllerMetrics,
                 forget_power: ForgetPower | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._config = config
        self._actuator = actuator
        self._records = actuator.records
        self._power_for = power_for
        self._busy = busy
        self._restore = restore
        self._events = events
        self._metrics = metrics
        self._forget_power = forget_power
        self._clock = clock
        self._sleep = sleep
        self._due: dict[str, float] = {}
        """When each machine is read next (clock seconds); absent: now."""
        self._unreadable: set[str] = set()
        """Machines already said to be unreadable: said once, not every interval."""

    async def run(self) -> None:
        """Read what is due, sleep until the next is, until cancelled."""
        while True:
            await self._sleep(await self.sync_once())

    async def sync_once(self) -> float:
        """Read every machine that is due, bounded; the seconds until the next is due."""
        config = self._config()
        settings = config.power_sync
        if not settings.interval:
            return IDLE_RECHECK
        now = self._clock()
        due = [spec for spec in config.machines if self._due.get(spec.name, now) <= now]
        slots = asyncio.Semaphore(settings.max_concurrent)
        async with asyncio.TaskGroup() as reads:
            for index, spec in enumerate(due):
                if index:
                    await self._sleep(1.0 / settings.reads_per_second)
                await slots.acquire()
                reads.create_task(self._read_in_slot(spec, config, slots),
                                  name=f"power-sync:{spec.name}")
        names = {spec.name for spec in config.machines}
        for gone in self._due.keys() - names:
            del self._due[gone]
        return max(0.0, min(self._due.values(), default=now + settings.interval)
                   - self._clock())

    async def _read_in_slot(self, spec: MachineSpec, config: AutoscalerConfig,
                            slots: asyncio.Semaphore) -> None:
        try:
            await self._read(spec, config)
        finally:
            slots.release()
            quarantined = self._records.get(spec.name, MachineRecord()).quarantined
            interval = (config.quarantine.probe_interval if quarantined
                        else config.power_sync.interval)
            self._due[spec.name] = self._clock() + interval

    async def _read(self, spec: MachineSpec, config: AutoscalerConfig) -> None:
        seen = self._records.get(spec.name, MachineRecord())
        if self._busy(spec.name) or seen.state.in_flight_up or seen.state.in_flight_down:
            log.debug("%s is %s: power not read while it moves", spec.name, seen.state.value)
            return
        try:
            power = await self._power_for(spec)
            if PowerOperation.STATUS not in power.capabilities:
                await self._unreadable_power(spec, seen)
                return
            observed = await power.status()
        except PowerError as error:
            await self._failed(spec, error, config)
            return
        self._metrics.status_reads.labels(spec.name, "ok").inc()
        await self._answered(spec, seen, observed, config)

    async def _unreadable_power(self, spec: MachineSpec, seen: MachineRecord) -> None:
        """Drivers that cannot read power: said once; a quarantined machine is released
        at its first probe, since no read can ever answer (its next call is the test)."""
        if spec.name not in self._unreadable:
            self._unreadable.add(spec.name)
            log.info("%s: %s and %s cannot read power state: not synced", spec.name,
                     spec.power.on.driver, spec.power.off.driver)
        if seen.quarantined:
            await self._write(spec, seen, quarantine.answered,
                              "its drivers cannot read power: its next power call is the probe")

    async def _failed(self, spec: MachineSpec, error: PowerError,
                      config: AutoscalerConfig) -> None:
        self._metrics.status_reads.labels(spec.name, error.category).inc()
        log.warning("power status of %s not read: %s", spec.name, error)
        if self._forget_power is not None:
            await self._forget_power(spec.name)
        await self._events.machine_event(spec, "PowerStatusFailed", str(error), warning=True)
        after = config.quarantine.after_failures
        await self._write(spec, self._records.get(spec.name, MachineRecord()),
                          lambda record: quarantine.failed(record, after=after), str(error))

    async def _answered(self, spec: MachineSpec, seen: MachineRecord, observed: PowerState,
                        config: AutoscalerConfig) -> None:
        recorded = recorded_power(seen)
        if observed is PowerState.UNKNOWN or recorded is None or observed is recorded:
            def quietly(record: MachineRecord) -> MachineRecord:
                record = quarantine.answered(record)
                if observed is PowerState.UNKNOWN:
                    return record
                return dataclasses.replace(record, power_state=observed.value)
            await self._write(spec, seen, quietly, f"its BMC answers (power {observed.value})")
            return
        policy = config.power_sync.policy
        await self._show_drift(spec, observed, recorded, policy)
        now = self._actuator.clock()

        def resolved(record: MachineRecord) -> MachineRecord:
            record = quarantine.answered(record)
            return adopted(record, observed, now) if policy == "adopt" else record
        if await self._write(spec, seen, resolved, f"its BMC answers (power {observed.value})") \
                and policy == "restore":
            self._restore(spec.name, recorded)

    async def _show_drift(self, spec: MachineSpec, observed: PowerState,
                          recorded: PowerState, policy: str) -> None:
        """The Event goes first, as in the actuator: once the record changes, anyone
        watching it may act."""
        self._metrics.power_drift.labels(spec.name, observed.value, recorded.value).inc()
        outcome = ("adopted: left as it is" if policy == "adopt"
                   else f"restoring: powering it {recorded.value} again")
        message = (f"power is {observed.value} but the record says {recorded.value}: switched "
                   f"outside the controller; {outcome} (powerSync.policy {policy})")
        log.warning("%s %s", spec.name, message)
        await self._events.machine_event(spec, "PowerStateDrift", message, warning=True)

    async def _write(self, spec: MachineSpec, seen: MachineRecord,
                     change: Callable[[MachineRecord], MachineRecord], reason: str) -> bool:
        """Apply change if the record is still the one read and no action started
        since; report a quarantine transition. True when the change applied."""
        before: MachineRecord | None = None

        def unless_moved(current: MachineRecord) -> MachineRecord | None:
            nonlocal before
            if self._busy(spec.name) or (current.state, current.since) != (seen.state,
                                                                            seen.since):
                return None
            before = current
            return change(current)
        try:
            await self._actuator.amend(spec.name, unless_moved)
        except BoundaryError as error:  # the store refused: the next read tries again
            log.warning("record of %s not written after its power read: %s", spec.name, error)
            return False
        if before is None:
            return False
        await quarantine.report(before, self._records[spec.name], spec=spec,
                                events=self._events, metrics=self._metrics,
                                probe_interval=self._config().quarantine.probe_interval,
                                reason=reason)
        return True
