"""The chaos run: the controller SIGKILLed at random moments while the lab's machines
cycle power for real, then what reached the peers and where everything ended.

One run (:func:`run_chaos`) plays a load that changes every few seconds on a small
fleet behind every kind of peer (ipmi_sim, a sushy-emulator system, Wake-on-LAN with
an sshd that records the shutdown), and kills the controller ``kills`` times, each
4 to 14 s after the previous restart by default. Each kill aims at a phase in turn
(a power-on in flight, a join, a drain, a power-off in flight, a configuration just
reloaded, or no phase in particular): it waits for a machine's record to show that
phase, then kills at once, since some phases last a fraction of a second. The
controller is started again at once, as its Deployment would.

What counts is what the peers received (:func:`duplicates`) and the state every
machine reaches (:func:`settled`): a power command is a duplicate when the machine
gets a second one of the same direction with none of the other between (one
decision, two commands); a machine is settled when its record is ``off`` with its
chassis off, ``ready`` with its chassis on and its Node Ready and schedulable, or
``error``. Convergence is timed per restart for each machine the kill caught
unsettled, from the restart until it settles; a sample cut short by the next kill
is counted apart, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from lab.fleet import Fleet, MachinePlan, PoolPlan, Timings
from lab.machine import LabMachine, Power
from lab.rack import RedfishPower, WolSshPower
from lab.run import Lab

log = logging.getLogger(__name__)

PHASES = ("powering-on", "joining", "draining", "powering-off", "reload", "any")
"""What each kill aims at, in turn: a record state, a reload just written, or nothing."""
IN_FLIGHT = frozenset({"powering-on", "joining", "draining", "powering-off"})
WAKE_BURST = 1.0
"""Seconds within which magic packets are one wake (the driver repeats each one)."""
STATE_POLL = 0.05
"""Seconds between reads of the records' states, which the kills aim by."""
APP = "load"
NAMESPACE = "lab"

TIMINGS = Timings(stabilization_window="1s", cooldown="4s", unneeded_time="4s",
                  min_uptime="4s", drain_timeout="30s", boot_time="6s",
                  scale_up_per_minute=8, scale_up_batch=2, scale_down_per_minute=6,
                  scale_down_concurrent=2)
FLEET = Fleet(
    pools=(PoolPlan("general"),),
    machines=(
        MachinePlan("ipmi-1", "general", "small", "4", "8Gi", power="ipmi", boot_delay=1.5,
                    idle_watts=100, mac="52:54:00:c4:00:01"),
        MachinePlan("ipmi-2", "general", "small", "4", "8Gi", power="ipmi", boot_delay=1.5,
                    chassis_delay=2.0, idle_watts=110, mac="52:54:00:c4:00:02"),
        MachinePlan("redfish-1", "general", "small", "4", "8Gi", power="redfish",
                    boot_delay=1.5, idle_watts=120, mac="52:54:00:c4:00:03"),
        MachinePlan("lan-1", "general", "small", "4", "8Gi", power="wol-ssh", boot_delay=1.5,
                    idle_watts=130, mac="52:54:00:c4:00:04"),
    ),
    timings=TIMINGS)
"""Four machines, one per power path (the second IPMI chassis takes 2 s to switch, so a
power call is in flight that long; the Redfish system 1-11 s, as the emulator does)."""
LOAD_LEVELS = (0, 3, 8, 14)
"""Replicas of 1-CPU pods: none, one machine's worth, two, all four."""


@dataclass(frozen=True)
class ChaosPlan:
    kills: int = 50
    gap: tuple[float, float] = (4.0, 14.0)
    """Seconds from a restart to the next kill: the earliest, and the latest when the
    phase aimed at does not come."""
    load_every: tuple[float, float] = (6.0, 16.0)
    """Seconds between changes of the load."""
    converge_within: float = 150.0
    """The bound promised for every machine to settle after the last restart: the
    join timeout (126 s for the fleet's 6 s boot time), for a boot whose power-on the
    kill may have kept from the BMC, and a margin."""
    poll: float = 0.2
    seed: int = 0


@dataclass
class Kill:
    at: float
    phases: frozenset[str]
    unsettled: frozenset[str]
    restarted: float = 0.0


@dataclass
class ChaosReport:
    kills: list[Kill] = field(default_factory=list)
    actions: int = 0
    duplicates: list[str] = field(default_factory=list)
    convergence: list[float] = field(default_factory=list)
    """Seconds from a restart until a machine the kill caught unsettled settled."""
    cut_short: int = 0
    """Samples the next kill ended before the machine settled."""
    final: float = 0.0
    """Seconds from the last restart until every machine was settled."""
    unsettled_at_end: dict[str, str] = field(default_factory=dict)
    restart_seconds: list[float] = field(default_factory=list)
    final_states: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[str]] = field(default_factory=dict)
    """Machine → the commands its peer received, in order."""

    def by_phase(self) -> dict[str, int]:
        counts = dict.fromkeys(PHASES, 0)
        for kill in self.kills:
            for phase in kill.phases:
                counts[phase] = counts.get(phase, 0) + 1
        return counts

    def p99(self) -> float:
        """The 99th percentile of the convergence samples (nearest rank); the final
        figure when there are none."""
        samples = sorted(self.convergence) or [self.final]
        return samples[min(len(samples) - 1, max(0, math.ceil(0.99 * len(samples)) - 1))]

    def details(self) -> str:
        """Everything else the run measured, for the log and docs/reliability.md."""
        restarts = self.restart_seconds or [0.0]
        return (f"chaos: kills by phase {self.by_phase()}; {len(self.convergence)} "
                f"convergence samples, {self.cut_short} cut short by the next kill; all "
                f"settled {self.final:.1f} s after the last restart; a restart took "
                f"{min(restarts):.1f}-{max(restarts):.1f} s; final states {self.final_states}; "
                f"commands received {self.received}")

    def line(self) -> str:
        return (f"chaos: {len(self.kills)} kills over {self.actions} power actions: "
                f"{len(self.duplicates)} duplicates, convergence p99 {self.p99():.1f} s")


# --- what the peers received ------------------------------------------------------------

def commands(machine: LabMachine) -> list[str]:
    """The power commands the machine's peer received, as "on"/"off", one per command."""
    peer = machine.peer
    if isinstance(peer, WolSshPower):
        out: list[str] = []
        last_wake = -float("inf")
        for record, at in zip(peer.records(), peer.heard_at, strict=True):
            if record.startswith("wake "):
                if at - last_wake > WAKE_BURST:
                    out.append("on")
                last_wake = at
            elif "poweroff" in record or "shutdown" in record:
                out.append("off")
        return out
    if isinstance(peer, RedfishPower):
        # The emulator logs the reset, not its type: a reset that changed nothing the
        # machine saw is a duplicate, so resets and power changes are compared.
        resets = len(peer.records())
        return ["on" if index % 2 == 0 else "off" for index in range(resets)]
    directions = {"set power 1": "on", "set power 0": "off", "set shutdown 1": "off"}
    return [directions[line] for line in peer.records() if line in directions]


def duplicates(machines: Sequence[LabMachine]) -> list[str]:
    """Each second command of one direction with none of the other between."""
    found = []
    for machine in machines:
        sent = commands(machine)
        if isinstance(machine.peer, RedfishPower):
            changes = machine.power_ons + machine.power_offs
            found += [f"{machine.name}: {len(sent)} resets, {changes} power changes"] \
                if len(sent) > changes else []
            continue
        previous = "off"  # every machine starts off
        for index, direction in enumerate(sent):
            if direction == previous:
                found.append(f"{machine.name}: command {index + 1} ({direction}) repeats "
                             f"the one before: {machine.peer.records()}")
            previous = direction
    return found


# --- where the machines are -------------------------------------------------------------

async def settled(lab: Lab) -> dict[str, str]:
    """Machine → why it is not settled; only the unsettled ones."""
    assert lab.cluster is not None
    records = await lab.cluster.machines()
    nodes = {node.metadata.name: node for node in
             (await lab.cluster.core.list_node()).items}
    unsettled = {}
    for name, machine in lab.machines.items():
        reason = await _unsettled(machine, records.get(name, {}), nodes.get(name))
        if reason:
            unsettled[name] = reason
    return unsettled


async def _unsettled(machine: LabMachine, record: Mapping[str, Any], node: Any) -> str:
    state = str(record.get("state") or "off")
    on = await machine.peer.is_on()
    if state in IN_FLIGHT:
        return f"recorded {state}"
    if state == "off":
        return "recorded off, chassis on" if on else ""
    if state == "ready":
        if not on or machine.power is not Power.ON:
            return f"recorded ready, machine {machine.power.value}"
        if node is None or node.spec.unschedulable:
            return "recorded ready, Node cordoned or missing"
        taints = [t.key for t in node.spec.taints or []]
        return "recorded ready, Node tainted unconfirmed" \
            if "bamel.io/unconfirmed" in taints else ""
    return ""  # error: held with its reason and backoff, a person's to see


# --- the run ----------------------------------------------------------------------------

class Chaos:
    """One chaos run over a started lab (no workload of its own, leader election on)."""

    def __init__(self, lab: Lab, plan: ChaosPlan) -> None:
        self.lab = lab
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.report = ChaosReport()
        self.unsettled: dict[str, str] = {}
        self.states: dict[str, str] = {}
        self.observed = 0.0
        """When the last observation of ``unsettled`` began (monotonic seconds)."""
        self._sampler: asyncio.Task[None] | None = None
        self._waiting: set[str] = set()
        self._observed = asyncio.Event()
        self.reloaded_at = -float("inf")
        self._reload_toggle = False

    async def run(self) -> ChaosReport:
        assert self.lab.cluster is not None
        await self.lab.cluster.deploy(NAMESPACE, APP, replicas=0,
                                      requests={"cpu": "1", "memory": "256Mi"},
                                      selector={"bamel.io/pool": "general"}, load="cpu=0.2")
        load = asyncio.create_task(self._cycle_load(), name="chaos-load")
        watcher = asyncio.create_task(self._watch(), name="chaos-watch")
        states = asyncio.create_task(self._watch_states(), name="chaos-states")
        try:
            for number in range(self.plan.kills):
                last = number == self.plan.kills - 1
                if last:  # the load goes to zero, as when the machine was stuck
                    load.cancel()
                    await self._set_load(0)
                await self._kill_at(PHASES[number % len(PHASES)])
            await self._converge()
        finally:
            for task in (load, watcher, states):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        machines = list(self.lab.machines.values())
        self.report.received = {m.name: m.peer.records() for m in machines}
        self.report.actions = sum(len(commands(m)) for m in machines)
        self.report.duplicates = duplicates(machines)
        return self.report

    async def _watch(self) -> None:
        """Keep the unsettled machines fresh."""
        while True:
            with contextlib.suppress(ApiException, aiohttp.ClientError, OSError,
                                     TimeoutError):
                began = time.monotonic()
                self.unsettled = await settled(self.lab)
                self.observed = began
            await asyncio.sleep(self.plan.poll)

    async def _watch_states(self) -> None:
        """Keep the record states fresh, often: a join or a drain may last a second."""
        while True:
            with contextlib.suppress(ApiException, aiohttp.ClientError, OSError,
                                     TimeoutError):
                self.states = await self._states()
                self._observed.set()
            await asyncio.sleep(STATE_POLL)

    async def _kill_at(self, phase: str) -> None:
        """Wait the shortest gap, then for the phase until the longest; kill; restart."""
        controller = self.lab.controller
        assert controller is not None
        started = time.monotonic()
        earliest, latest = self.plan.gap
        await asyncio.sleep(earliest)
        if phase == "reload":
            await asyncio.sleep(self.random.uniform(0.0, latest - earliest))
            self._reload()
            await asyncio.sleep(self.random.uniform(0.0, 1.0))
        elif phase == "any":
            await asyncio.sleep(self.random.uniform(0.0, latest - earliest))
        else:
            while phase not in self.states.values():
                left = started + latest - time.monotonic()
                if left <= 0:
                    break
                self._observed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._observed.wait(), left)
        kill = Kill(at=time.monotonic(), phases=self._phases(), unsettled=frozenset(
            self.unsettled))
        await self._stop_sampling()
        controller.kill()
        restart = time.monotonic()
        await controller.start()
        kill.restarted = time.monotonic()
        self.report.restart_seconds.append(kill.restarted - restart)
        self.report.kills.append(kill)
        log.info("kill %d at %s; unsettled %s", len(self.report.kills), sorted(kill.phases),
                 sorted(kill.unsettled))
        self._sampler = asyncio.create_task(self._sample(kill), name="chaos-sample")

    def _phases(self) -> frozenset[str]:
        phases = {state for state in self.states.values() if state in IN_FLIGHT}
        if time.monotonic() - self.reloaded_at < 2.0:
            phases.add("reload")
        return frozenset(phases or {"any"})

    def _reload(self) -> None:
        """Write a changed configuration (the unneeded time moves by a second)."""
        self._reload_toggle = not self._reload_toggle
        timings = dataclasses.replace(
            TIMINGS, unneeded_time="5s" if self._reload_toggle else TIMINGS.unneeded_time)
        self.lab.write_config(dataclasses.replace(self.lab.options.fleet, timings=timings))
        self.reloaded_at = time.monotonic()

    async def _sample(self, kill: Kill) -> None:
        """Time each machine the kill caught unsettled, from the restart until an
        observation begun after the restart finds it settled."""
        self._waiting = set(kill.unsettled)
        while self._waiting:
            await asyncio.sleep(self.plan.poll / 2)
            if self.observed <= kill.restarted:
                continue
            for name in [n for n in self._waiting if n not in self.unsettled]:
                self.report.convergence.append(time.monotonic() - kill.restarted)
                self._waiting.discard(name)

    async def _stop_sampling(self) -> None:
        """A new kill: the machines the last one's sampler still waits for are cut short."""
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        self.report.cut_short += len(self._waiting)
        self._waiting = set()

    async def _cycle_load(self) -> None:
        current = 0
        while True:
            current = self.random.choice([n for n in LOAD_LEVELS if n != current])
            await self._set_load(current)
            await asyncio.sleep(self.random.uniform(*self.plan.load_every))

    async def _set_load(self, replicas: int) -> None:
        assert self.lab.cluster is not None
        with contextlib.suppress(ApiException, aiohttp.ClientError, OSError):
            await self.lab.cluster.scale(NAMESPACE, APP, replicas)
            log.info("load: %d pods", replicas)

    async def _converge(self) -> None:
        """After the last restart: how long until every machine is settled."""
        last = self.report.kills[-1]
        if self._sampler is not None:
            await asyncio.wait({self._sampler}, timeout=self.plan.converge_within)
        deadline = last.restarted + self.plan.converge_within
        while time.monotonic() < deadline:
            unsettled = await settled(self.lab)
            if not unsettled:
                self.report.final = time.monotonic() - last.restarted
                self.report.final_states = dict(await self._states())
                return
            await asyncio.sleep(self.plan.poll)
        self.report.final = time.monotonic() - last.restarted
        self.report.unsettled_at_end = await settled(self.lab)
        self.report.final_states = dict(await self._states())

    async def _states(self) -> dict[str, str]:
        assert self.lab.cluster is not None
        return {name: str(status.get("state") or "off")
                for name, status in (await self.lab.cluster.machines()).items()}
