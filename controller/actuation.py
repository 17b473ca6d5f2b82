"""Actuation: carry out the planner's actions, the only place that touches the world.

Every step is recorded before it is taken (see ``machines``), so actions are
idempotent across restarts: a machine already ``powering-on`` is never powered on
again. A failed power call leaves the machine in ``error`` with the reason, never
half-done, and reads the error's ``retriable`` flag to decide when it may be tried
again: a transient failure (the BMC unreachable or slow) backs off doubling, as a
failed boot does; a permanent one (a wrong password, an operation the BMC does not
support, a refused command) is held for the longest backoff at once, since the same
call would fail the same way until a person changes something, and repeating a
wrong password can lock the BMC account. Every failed call also counts towards
quarantine (``controller.quarantine``), and a call that goes through resets it.
Every power call first asks whether this replica still leads (``controller.leadership``):
one that no longer does sends nothing and leaves the step as recorded, for the next
leader to resume. An API server that does not answer holds an action up, never ends
it: a record write is tried again for as long as this replica leads (the step it
records may already have reached the BMC, and a record left behind would have the
next leader repeat or abort it), and a join waits on until the join timeout, as a
slow boot would.
Dry-run is decided here and only here: the planner runs as usual, and the log says
"would".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from controller import quarantine
from controller.config import AutoscalerConfig, MachineSpec
from controller.leadership import NotLeader, StillLeading, always_leading, ensure_leading
from controller.machines import MachineRecord, MachineStore
from controller.metrics import ControllerMetrics
from controller.planning import Action, ActionKind, MachineState
from controller.planning.eligibility import BACKOFF_CEILING, backoff_seconds, join_timeout_for
from controller.power import MachinePower, PowerError, PowerOperation, PowerState
from controller.power.polling import reaches
from faults import Backoff, BoundaryError

log = logging.getLogger(__name__)

LEARNED = ("macs", "allocatable", "node_labels", "ips", "hardware", "host_addresses",
           "energy_joules", "always_on_joules", "energy_since")
"""Record fields learnt from the machine itself (or metered) rather than stepped by an
action."""

OFF_SETTLE = 60.0
"""Seconds a restarted controller watches a machine recorded ``powering-off`` go off
before it takes the power-off as not done. The call may have reached the BMC just before
the kill, and a chassis takes a while to change after a BMC accepts the command (a
Redfish system seconds, a graceful shutdown up to a minute); within this it is the
command already sent, not a missing one."""
OFF_SETTLE_POLL = 1.0
WRITE_RETRY = (0.5, 5.0)
"""First and longest pause (seconds) between tries of a record write the store did not
take for a transient reason."""
JOIN_RETRY = 1.0
"""Seconds before a join that met an unanswering API server is taken up again: a
restarted API server is ready in about five seconds, and each try costs one read."""

Clock = Callable[[], float]
PowerFor = Callable[[MachineSpec], Awaitable[MachinePower]]
ForgetPower = Callable[[str], Awaitable[None]]
"""Drop a machine's cached driver after a failure (its session or credentials may be stale)."""


class Cluster(Protocol):
    """What actuation needs from Kubernetes (the kube layer implements it)."""

    async def await_join(self, machine: MachineSpec, *, within: float) -> str:
        """Wait for the machine's node to be Ready, label and untaint it; return its name."""
        ...

    async def drain(self, machine: MachineSpec, *, node: str) -> None:
        """Cordon and evict; raise when refused or out of time (the node is uncordoned)."""
        ...

    async def restore(self, machine: MachineSpec, *, node: str) -> None:
        """Put a node an earlier drain left cordoned (and tainted for power-off) back in
        service: a drain resumed after a restart that is then refused."""
        ...


class MachineEvents(Protocol):
    """Where people see what happened to a machine (Events on its BareMetalNode and Node)."""

    async def machine_event(self, machine: MachineSpec, reason: str, message: str, *,
                            warning: bool = False) -> None:
        """Record one event; must not raise (an unrecorded event never stops an action)."""
        ...


class _NoEvents:
    async def machine_event(self, machine: MachineSpec, reason: str, message: str, *,
                            warning: bool = False) -> None:
        return None


class Actuator:
    """Executes actions against power drivers and the cluster, recording each step."""

    def __init__(self, *, config: AutoscalerConfig, store: MachineStore,
                 records: dict[str, MachineRecord], power_for: PowerFor, cluster: Cluster,
                 clock: Clock, metrics: ControllerMetrics, dry_run: bool = False,
                 events: MachineEvents | None = None, forget_power: ForgetPower | None = None,
                 wall: Clock = time.time,
                 on_change: Callable[[str], None] | None = None,
                 off_settle: float = OFF_SETTLE,
                 still_leading: StillLeading = always_leading) -> None:
        self.config = config
        self.store = store
        self.records = records
        self.power_for = power_for
        self.cluster = cluster
        self.clock = clock
        self.metrics = metrics
        self.dry_run = dry_run
        self.events: MachineEvents = events or _NoEvents()
        self.wall = wall
        self._forget_power = forget_power
        self._on_change = on_change or (lambda name: None)
        self.off_settle = off_settle
        self.still_leading = still_leading
        """Asked right before every power call (``controller.leadership``)."""
        self._writing: dict[str, asyncio.Lock] = {}
        """One write at a time per machine, in the order asked: two writes in flight
        at once could land in either order, and a record read before the later one
        would overwrite it."""

    def reconfigure(self, config: AutoscalerConfig) -> None:
        """A new validated configuration: later actions find their machines in it."""
        self.config = config

    async def execute(self, action: Action) -> None:
        """Carry out one action; errors end in the machine's record, never raised."""
        spec = self._spec(action.machine)
        if self.dry_run:
            log.info("dry-run: would %s %s (%s)", action.kind.value, action.machine, action.reason)
            await self.events.machine_event(
                spec, "Would" + _event_name(action.kind),
                f"dry-run: would {action.kind.value} ({action.reason})")
            return
        handlers = {ActionKind.POWER_ON: self._power_on, ActionKind.POWER_OFF: self._power_off,
                    ActionKind.ABORT_BOOT: self._abort_boot}
        try:
            await handlers[action.kind](spec, action)
        except NotLeader as error:
            _left_as_recorded(action.machine, error)

    async def lose(self, name: str, reason: str) -> None:
        """A Ready machine's Node went away on its own: record it in the error state.

        The backoff keeps the planner from trying it again at once; when it does, the
        power-on is a no-op on a machine still on, and the join wait tells whether it
        came back (otherwise the boot is aborted and it is powered off).
        """
        record = self.records.get(name)
        if record is None or record.state is not MachineState.READY:
            return
        spec = self._spec(name)
        if self.dry_run:
            log.warning("dry-run: %s would be marked lost: %s", name, reason)
            await self.events.machine_event(spec, "WouldMarkLost", f"dry-run: {reason}",
                                            warning=True)
            return
        log.error("%s lost: %s", name, reason)
        await self.events.machine_event(spec, "NodeLost", reason, warning=True)
        await self._fail(name, f"lost: {reason}")

    async def resume(self, name: str) -> None:
        """After a restart: finish the step the record says was under way, repeating no
        power call that may have gone out.

        A boot in flight is waited for again. A drain is run again (draining evicts only
        what is left, and no power call of this decision has been made yet: the record
        says ``powering-off`` before the call), then the machine is powered off. A
        machine recorded ``powering-off`` is settled from its power state, never by a
        second power-off (``_settle_power_off``).
        """
        record = self.records.get(name)
        if record is None or not (record.state.in_flight_up or record.state.in_flight_down):
            return
        if not any(machine.name == name for machine in self.config.machines):
            log.warning("%s was %s but is no longer configured: left as it is",
                        name, record.state.value)
            return
        spec = self._spec(name)
        try:
            if record.state.in_flight_up:
                await self._await_join(spec)
            elif record.state is MachineState.DRAINING:
                log.info("%s was draining when the controller stopped: draining again", name)
                await self._drain_then_power_off(spec, ready_since=record.since,
                                                 reason="resumed after a restart", resumed=True)
            else:
                await self._settle_power_off(spec)
        except NotLeader as error:
            _left_as_recorded(name, error)

    async def _power_on(self, spec: MachineSpec, action: Action) -> None:
        record = await self._claim(spec.name, {MachineState.OFF, MachineState.ERROR},
                                   lambda r: r.moved(MachineState.POWERING_ON, self.clock(),
                                                     last_action="power-on", last_error=""))
        if record is None:
            log.info("%s is %s: power-on not repeated", spec.name,
                     self.records.get(spec.name, MachineRecord()).state.value)
            return
        if not await self._call_power(spec, PowerOperation.ON):
            return
        await self.events.machine_event(
            spec, "PoweredOn", f"powered on with {spec.power.on.driver}: {action.reason}")
        await self._move(spec.name, self.records[spec.name].moved(
            MachineState.JOINING, self.records[spec.name].since, power_state="on"))
        await self._await_join(spec)

    async def _await_join(self, spec: MachineSpec) -> None:
        record = self.records[spec.name]
        timeout = join_timeout_for(record.expected_boot_seconds(spec.boot_time))
        while True:
            remaining = max(0.0, record.since + timeout - self.clock())
            try:
                node = await self.cluster.await_join(spec, within=remaining)
                break
            except BoundaryError as error:
                if not error.retriable or remaining <= JOIN_RETRY:
                    log.warning("%s has not joined: %s", spec.name, error)
                    return  # the planner aborts it at the join timeout
                log.warning("%s: waiting for its Node again in %gs: %s",
                            spec.name, JOIN_RETRY, error)
                await asyncio.sleep(JOIN_RETRY)
            except Exception as error:  # the planner aborts it at the join timeout
                log.warning("%s has not joined: %s", spec.name, error)
                return
        current = self.records[spec.name]
        if current.state.in_flight_up:
            ready = current.moved(MachineState.READY, self.clock(), kubernetes_node=node,
                                  failures=0)
            boot = self._boot_seconds(current, timeout=timeout)
            if boot is not None:
                ready = ready.learn_boot(boot, configured=spec.boot_time)
            await self._move(spec.name, ready)

    def _boot_seconds(self, record: MachineRecord, *, timeout: float) -> float | None:
        """Seconds from the recorded power-on call to now (the Node is Ready), or None
        when the record holds no call this boot can be measured from.

        The call's wall time is in the record, so a controller that restarts during the
        boot still measures it. A last call that failed or was a power-off, or one
        older than the join timeout (a controller that died between recording
        ``powering-on`` and calling, leaving an earlier call in the record), is not
        this boot's start.
        """
        if record.power_action != "on" or record.power_result != "ok":
            return None
        seconds = self.wall() - record.power_time
        return seconds if 0.0 <= seconds <= timeout else None

    async def _power_off(self, spec: MachineSpec, action: Action) -> None:
        record = await self._claim(spec.name, {MachineState.READY},
                                   lambda r: r.moved(MachineState.DRAINING, self.clock(),
                                                     last_action="drain"))
        if record is None:
            log.info("%s is %s: power-off skipped", spec.name,
                     self.records.get(spec.name, MachineRecord()).state.value)
            return
        await self._drain_then_power_off(spec, ready_since=record.since, reason=action.reason)

    async def _drain_then_power_off(self, spec: MachineSpec, *, ready_since: float,
                                    reason: str, resumed: bool = False) -> None:
        """From ``draining``: drain, record ``powering-off``, call, record ``off``.

        A refused drain puts the machine back in service; a resumed one also lifts
        the cordon and taint the interrupted drain may have left (a first drain that
        is refused has not cordoned yet, or uncordons itself).
        """
        node = self.records[spec.name].kubernetes_node or spec.name
        try:
            await self.cluster.drain(spec, node=node)
        except NotLeader:
            raise  # left draining, for the next leader to resume
        except Exception as error:  # any refusal puts the node back in service
            if resumed:
                await self.cluster.restore(spec, node=node)
            await self._refused(spec, ready_since, error)
            return
        await self._move(spec.name, self.records[spec.name].moved(
            MachineState.POWERING_OFF, self.clock(), last_action="power-off",
            drain_refusals=0))
        if await self._call_power(spec, PowerOperation.OFF):
            await self._powered_off(spec, f"powered off with {spec.power.off.driver}: {reason}")

    async def _powered_off(self, spec: MachineSpec, message: str) -> None:
        await self._move(spec.name, self.records[spec.name].moved(
            MachineState.OFF, self.clock(), power_state="off", kubernetes_node=""))
        await self.events.machine_event(spec, "PoweredOff", message)

    async def _settle_power_off(self, spec: MachineSpec) -> None:
        """A restart found the machine ``powering-off``: complete its record from its power.

        The controller died after recording ``powering-off`` and before recording
        ``off``: the power-off may have reached the BMC or not, and nothing here can
        prove it did not, so it is never sent again. Off (now, or within
        ``off_settle``): recorded off. Still on after that: the power-off did not
        happen, and the machine goes back in service through its Node (uncordoned,
        untainted, ``ready``) for the planner to decide again; an error if its Node is
        not Ready either. A machine whose power cannot be read (SSH off, Wake-on-LAN
        on) is off when the record shows the call acknowledged; otherwise its Node
        tells: alive, back in service; silent for ``off_settle``, off.
        """
        record = self.records[spec.name]
        try:
            power = await self.power_for(spec)
            off = await reaches(power.status, PowerState.OFF, within=self.off_settle,
                                every=min(OFF_SETTLE_POLL, self.off_settle))
        except PowerError as error:
            if record.power_action == "off" and record.power_result == "ok":
                await self._powered_off(spec, "power-off acknowledged before a restart")
            elif not await self._back_in_service(
                    spec, f"power-off interrupted by a restart, power unreadable ({error}), "
                    "Node alive: not repeated"):
                await self._powered_off(spec, "Node silent after a power-off interrupted "
                                        "by a restart")
            return
        if off:
            await self._powered_off(spec, "found off after a restart during the power-off")
            return
        reason = f"still on {self.off_settle:g}s after a power-off interrupted by a restart"
        if not await self._back_in_service(spec, f"{reason}: not repeated"):
            await self.events.machine_event(spec, "PowerFailed", reason, warning=True)
            await self._fail(spec.name, f"{reason}, Node not Ready: not repeated")

    async def _back_in_service(self, spec: MachineSpec, reason: str) -> bool:
        """Take a machine whose power-off did not happen back to ``ready`` once its Node
        is Ready (the join lifts the drain's cordon and taint); False if it is not
        within ``off_settle``."""
        try:
            node = await self.cluster.await_join(spec, within=self.off_settle)
        except Exception as error:  # the caller decides what a silent Node means
            log.warning("%s: Node not Ready after an interrupted power-off: %s",
                        spec.name, error)
            return False
        await self.events.machine_event(spec, "PowerOffNotDone", reason, warning=True)
        await self._move(spec.name, self.records[spec.name].moved(
            MachineState.READY, self.clock(), kubernetes_node=node, power_state="on",
            last_error=reason))
        return True

    async def _refused(self, spec: MachineSpec, since: float, error: Exception) -> None:
        """A refused drain: the machine serves on, and is not offered again before a
        doubling backoff runs out, so the planner tries the next candidate instead of
        this one every rate window (and the Events stay few)."""
        current = self.records[spec.name]
        refusals = current.drain_refusals + 1
        hold = backoff_seconds(refusals)
        await self._move(spec.name, current.moved(
            MachineState.READY, since, last_error=f"drain refused: {error}",
            drain_refusals=refusals, backoff_until=self.clock() + hold))
        await self.events.machine_event(
            spec, "DrainRefused", f"{error}; not offered for power-off for {hold:.0f}s",
            warning=True)

    async def _abort_boot(self, spec: MachineSpec, action: Action) -> None:
        record = self.records.get(spec.name, MachineRecord())
        if not record.state.in_flight_up:
            return
        failures = record.failures + 1
        now = self.clock()
        await self._move(spec.name, record.moved(
            MachineState.ERROR, now, failures=failures, last_action="abort-boot",
            backoff_until=now + backoff_seconds(failures), last_error=action.reason))
        await self.events.machine_event(spec, "BootTimeout", action.reason, warning=True)
        await self._call_power(spec, PowerOperation.FORCE_OFF, record_error=False)

    async def _call_power(self, spec: MachineSpec, operation: PowerOperation, *,
                          record_error: bool = True) -> bool:
        """Run one power operation; on failure record the error state and return False."""
        on = operation is PowerOperation.ON
        driver = spec.power.on.driver if on else spec.power.off.driver
        try:
            power = await self.power_for(spec)
            ensure_leading(self.still_leading, f"power {operation} of {spec.name}")
            if on:  # nothing awaited between the gate and the call
                await power.power_on()
            else:
                await power.power_off(force=operation is PowerOperation.FORCE_OFF)
        except PowerError as error:
            self.metrics.power_actions.labels(driver, operation, error.category).inc()
            await self._note_power_call(spec.name, operation, driver, error.category)
            log.error("power %s of %s failed: %s", operation, spec.name, error)
            if self._forget_power is not None:
                await self._forget_power(spec.name)
            reason = f"power {operation}: {error}"
            if not error.retriable:
                reason += f" (permanent: {error.category}; held {BACKOFF_CEILING:g}s)"
            # The Event goes first: once the error state is written, anyone watching
            # it (a person, a test, a restarted controller) may act before a later write.
            await self.events.machine_event(spec, "PowerFailed", reason, warning=True)
            if record_error:
                await self._fail(spec.name, reason, permanent=not error.retriable, bmc=True)
            else:
                await self._bmc_failed(spec.name, reason)
            return False
        self.metrics.power_actions.labels(driver, operation, "ok").inc()
        await self._note_power_call(spec.name, operation, driver, "ok")
        return True

    async def _note_power_call(self, name: str, operation: PowerOperation, driver: str,
                               result: str) -> None:
        """Record the call in the machine's record (the BareMetalNode's lastPowerAction);
        a call that went through also shows the BMC works (``controller.quarantine``)."""
        before = self.records[name]
        record = dataclasses.replace(
            before, power_action="on" if operation is PowerOperation.ON else "off",
            power_driver=driver, power_time=self.wall(), power_result=result)
        if result == "ok":
            record = quarantine.succeeded(record)
        await self._move(name, record)
        await self._report(name, before, f"power {operation} went through")

    async def _fail(self, name: str, reason: str, *, permanent: bool = False,
                    bmc: bool = False) -> None:
        """Record the error state; a permanent failure is held for the longest backoff.
        ``bmc``: the BMC failed the call, which counts towards quarantine."""
        before = self.records[name]
        failures = before.failures + 1
        now = self.clock()
        hold = BACKOFF_CEILING if permanent else backoff_seconds(failures)
        record = before.moved(MachineState.ERROR, now, failures=failures,
                              backoff_until=now + hold, last_error=reason)
        if bmc:
            record = quarantine.failed(record, after=self.config.quarantine.after_failures)
        await self._move(name, record)
        await self._report(name, before, reason)

    async def _bmc_failed(self, name: str, reason: str) -> None:
        """Count a failed BMC call that leaves the state as it is (the forced power-off
        after a boot timeout)."""
        before = self.records[name]
        await self._move(name, quarantine.failed(
            before, after=self.config.quarantine.after_failures))
        await self._report(name, before, reason)

    async def _report(self, name: str, before: MachineRecord, reason: str) -> None:
        await quarantine.report(before, self.records[name], spec=self._spec(name),
                                events=self.events, metrics=self.metrics,
                                probe_interval=self.config.quarantine.probe_interval,
                                reason=reason)

    async def amend(self, name: str,
                    change: Callable[[MachineRecord], MachineRecord | None]) -> bool:
        """Write ``change(record)`` in the machine's turn of writes, from the record in
        force then; None (or an unchanged record) writes nothing. True when written.

        For a change decided away from an action (the power sync's reading): the
        record may have moved since it was read, and ``change`` sees the current one.
        """
        async with self._turn(name):
            current = self.records.get(name, MachineRecord())
            record = change(current)
            if record is None or record == current:
                return False
            await self.store.put(name, record)
            self.records[name] = record
        self._on_change(name)
        return True

    async def restore(self, name: str, recorded: PowerState) -> None:
        """Switch a machine back to its recorded power (``powerSync.policy: restore``):
        on for a ready machine a person switched off, a shutdown for an off one a
        person switched on. A failure is recorded like any power call's."""
        spec = self._spec(name)
        operation = PowerOperation.ON if recorded is PowerState.ON else PowerOperation.OFF
        if self.dry_run:
            log.warning("dry-run: would power %s %s back", operation, name)
            return
        record = self.records.get(name, MachineRecord())
        try:
            if not await self._call_power(spec, operation, record_error=True):
                return
        except NotLeader as error:
            _left_as_recorded(name, error)
            return
        if self.records[name].state is record.state:
            await self._move(name, dataclasses.replace(self.records[name],
                                                       power_state=recorded.value))
        driver = spec.power.on.driver if operation is PowerOperation.ON else \
            spec.power.off.driver
        await self.events.machine_event(
            spec, "PowerStateRestored", f"powered {recorded.value} again with {driver}: "
            "the record says so and powerSync.policy is restore")

    def learn(self, name: str, macs: tuple[str, ...]) -> bool:
        """Keep the NIC addresses the machine's agent reported with its record.

        True when they changed: the caller then runs ``persist`` (the agent streams
        them with every sample, so this is called often and writes rarely).
        """
        current = self.records.get(name, MachineRecord())
        if not macs or current.macs == macs:
            return False
        self.records[name] = dataclasses.replace(current, macs=macs)
        return True

    def learn_host(self, name: str, dmi: Mapping[str, str],
                   addresses: tuple[str, ...]) -> bool:
        """Keep what the machine's agent says of the machine (DMI identity, addresses);
        True when it changed (the caller then runs ``persist``). Sent once a
        connection, so a reconnect that says the same writes nothing."""
        current = self.records.get(name, MachineRecord())
        return self._keep(name, current, current.with_host_facts(dmi, addresses))

    def learn_ips(self, name: str, ips: tuple[str, ...]) -> bool:
        """Keep the InternalIPs the machine's Ready Node reports; True when they changed
        (the caller then runs ``persist``)."""
        current = self.records.get(name, MachineRecord())
        if not ips or current.ips == ips:
            return False
        self.records[name] = dataclasses.replace(current, ips=ips)
        return True

    def learn_node(self, name: str, allocatable: dict[str, float],
                   labels: dict[str, str]) -> bool:
        """Keep what the machine's Ready Node reports of itself (its allocatable and
        labels: the template pods are packed onto while it is off). True when they
        changed: the caller then runs ``persist``."""
        current = self.records.get(name, MachineRecord())
        return self._keep(name, current, current.with_node_facts(allocatable, labels))

    def _keep(self, name: str, current: MachineRecord, learned: MachineRecord) -> bool:
        """Hold a record with something learned; True when it differs from current."""
        if learned == current:
            return False
        self.records[name] = learned
        return True

    async def persist(self, name: str) -> None:
        """Write the machine's record as it is now (after ``learn``).

        If the write fails the learnt details are dropped from memory too, so the
        next report (the agent's a second later, the Node's next change) learns and
        writes them again.
        """
        async with self._turn(name):
            try:
                await self.store.put(name, self.records[name])
            except BaseException:
                self.records[name] = dataclasses.replace(
                    self.records[name], macs=(), allocatable=(), node_labels=(),
                    hardware=(), host_addresses=())
                raise
        self._on_change(name)

    async def _move(self, name: str, record: MachineRecord) -> None:
        async with self._turn(name):
            await self._write(name, record)
        self._on_change(name)

    async def _claim(self, name: str, allowed: set[MachineState],
                     step: Callable[[MachineRecord], MachineRecord]) -> MachineRecord | None:
        """Take the first step of an action only from an allowed state, the check and the
        write under the machine's lock, so two actions started at once for one machine
        (the planner's, and a deleted BareMetalNode's power-off) move it once. The
        record it moved from, or None when the machine was not in an allowed state."""
        async with self._turn(name):
            record = self.records.get(name, MachineRecord())
            if record.state not in allowed:
                return None
            await self._write(name, step(record))
        self._on_change(name)
        return record

    async def _write(self, name: str, record: MachineRecord) -> None:
        record = self._with_learned(name, record)
        await self._put(name, record)
        self.records[name] = self._with_learned(name, record)

    async def _put(self, name: str, record: MachineRecord) -> None:
        """Write a step's record, trying again while the store is unavailable and this
        replica leads; NotLeader once it does not (the next leader reads the last
        record written)."""
        backoff = Backoff(base_s=WRITE_RETRY[0], cap_s=WRITE_RETRY[1])
        while True:
            try:
                await self.store.put(name, record)
                return
            except BoundaryError as error:
                if not error.retriable:
                    raise
                ensure_leading(self.still_leading, f"the {record.state.value} record of {name}")
                delay = backoff.next_delay()
                log.warning("%s: record not written (%s); trying again in %.1fs",
                            name, error, delay)
                await asyncio.sleep(delay)

    def _turn(self, name: str) -> asyncio.Lock:
        return self._writing.setdefault(name, asyncio.Lock())

    def _with_learned(self, name: str, record: MachineRecord) -> MachineRecord:
        """record with the learnt details of the record in force: a step computed from a
        record read before an await must not drop what an agent reported meanwhile."""
        current = self.records.get(name)
        if current is None:
            return record
        changed = {field: getattr(current, field) for field in LEARNED
                   if getattr(current, field) != getattr(record, field)}
        return dataclasses.replace(record, **changed) if changed else record

    def _spec(self, name: str) -> MachineSpec:
        for machine in self.config.machines:
            if machine.name == name:
                return machine
        raise KeyError(f"machine {name!r} is not in the configuration")


def _event_name(kind: ActionKind) -> str:
    """``power-on`` → ``PowerOn``: Event reasons are CamelCase by convention."""
    return "".join(part.capitalize() for part in kind.value.split("-"))


def _left_as_recorded(machine: str, error: NotLeader) -> None:
    log.warning("%s: %s; its step is left as recorded for the next leader", machine, error)
