"""Reaction: from a threshold-crossing frame to the power command, with 10,000 agents.

The controller's process (pinned to core 0) runs the parts ``controller.service``
wires on the leader, wired the same way: ``IngestServer`` with a ``PressureStore``,
per-node tokens and the ``CrossingDetector``, whose crossings wake the ``Reactor`` for
their node's pool; the ``Actuator`` with a machine store in memory, a cluster whose
machines never join within the run, and a power driver that stamps each ``power_on``
call with CLOCK_MONOTONIC before anything else; a record change republishes its
machine's gauges and wakes the reactor for its pool, as the service's callbacks do.
The HTTP application is ``controller.http.build_app``.

The fleet: POOLS pools of two machines, one ready (its node is one of the agents) and
one off; scale-up acts on the first crossing (``stabilizationWindow: 0s``) and rate
limits are far away. The other agents stream for nodes outside the inventory, as the
agents of always-on nodes do. All AGENTS agents stream steady frames at 1 Hz from
generator processes on core 1 (``benchmarks.swarm``); once they have settled, the
generators send, at random times (exponential gaps, mean GAP), a frame taking one
pool's ready node from cpu level 0.3 to 0.9, stamped with its send time. Each pool
is hit once, so each crossing should power exactly one machine on. The figure is
``power_on time - send time`` for each.

Beside it, what a loop scanning every SCAN seconds (the Cluster Autoscaler's
default) would give on the same events: each is acted on at the first tick after
it was sent (the ticks' phase drawn at random), plus the median planning pass
measured in this run.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from aiohttp import web

from benchmarks import swarm
from benchmarks.procs import (
    Child,
    Children,
    ask_all,
    core_busy_seconds,
    foreground,
    prepare,
    serve,
)
from controller import fleetstate
from controller.actuation import Actuator
from controller.config import AutoscalerConfig, MachineSpec
from controller.http import build_app
from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.ingest.collector import pace_collector
from controller.machines import MachineRecord, MemoryMachineStore
from controller.metrics import ControllerMetrics
from controller.planning import MachineState, PlanResult
from controller.power import MachinePower
from controller.reactor import Reactor
from controller.triggers import CrossingDetector
from tests.power.fakes import FakeDriver
from wire import PressureSample

AGENTS = 10_000
POOLS = 220
"""One crossing per pool: at least 200 events, each on a pool with a machine to spare."""
GAP = 0.25
"""Mean seconds between crossings (exponential gaps): 220 events in about 55 s."""
SCAN = 10.0
GENERATORS = 2
CONTROLLER_CPU, GENERATOR_CPU = 0, 1
SETTLE = 8.0
"""Seconds after the last agent connected before the first crossing: every agent's
first frame (a crossing of its own, from no band to one) has been planned for."""
HIGH = {"cpu": 0.9, "memory": 0.3, "network": 0.1}
DRAIN = 3.0
"""Seconds after the last crossing for its power-on to happen."""


def fleet(pools: int) -> AutoscalerConfig:
    """``pools`` pools of one ready and one spare machine, scaling up on the first crossing."""
    power = {"on": {"driver": "fake"}, "off": {"driver": "fake"}}
    machines = [
        {"name": f"{role}-{index:03d}", "pool": f"pool-{index:03d}", "power": power,
         "capacity": {"cpu": 32, "memory": "128Gi"}}
        for index in range(pools) for role in ("ready", "spare")]
    return AutoscalerConfig.model_validate({
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "pools": [{"name": f"pool-{index:03d}",
                   "scaleUp": {"stabilizationWindow": "0s", "maxPerMinute": 60}}
                  for index in range(pools)],
        "machines": machines})


def ready_records(pools: int, now: float) -> dict[str, MachineRecord]:
    """Each pool's ready machine, up for an hour, running as agent ``index``'s node."""
    return {f"ready-{index:03d}": MachineRecord(
        state=MachineState.READY, since=now - 3600.0, power_state="on",
        kubernetes_node=swarm.node_name(index)) for index in range(pools)}


class PowerLog:
    """The power side: one stamping driver per machine; ``on`` holds each power-on."""

    def __init__(self) -> None:
        self.on: list[tuple[str, float]] = []

    async def power_for(self, spec: MachineSpec) -> MachinePower:
        driver = StampingDriver(self, machine=spec.name)
        return MachinePower(spec.name, on_driver=driver, off_driver=driver)


class StampingDriver(FakeDriver):
    """The fake driver, writing down when each power-on was asked for, first thing."""

    def __init__(self, log: PowerLog, *, machine: str) -> None:
        super().__init__(machine=machine)
        self.log = log

    async def power_on(self) -> None:
        self.log.on.append((self.machine, time.monotonic()))
        await super().power_on()


class NeverJoins:
    """A cluster where powered machines take longer to join than the run lasts."""

    async def await_join(self, machine: MachineSpec, *, within: float) -> str:
        await asyncio.sleep(within)
        raise TimeoutError(f"{machine.name} did not join")

    async def drain(self, machine: MachineSpec, *, node: str) -> None:
        raise RuntimeError("no drains in this benchmark")

    async def restore(self, machine: MachineSpec, *, node: str) -> None:
        raise RuntimeError("no drains in this benchmark")


class TimedReactor(Reactor):
    """The reactor, keeping how long each planning pass took."""

    passes: list[float]

    def plan_once(self, pools: set[str] | None = None) -> PlanResult:
        started = time.perf_counter()
        try:
            return super().plan_once(pools)
        finally:
            self.passes.append(time.perf_counter() - started)


def controller_main(conn: Connection, cpu: int, secret: str, agents: int, pools: int) -> None:
    """The controller's process, on ``cpu``."""
    prepare(cpu)
    pace_collector()
    asyncio.run(_controller(conn, secret, agents, pools))


async def _controller(conn: Connection, secret: str, agents: int, pools: int) -> None:
    config = fleet(pools)
    records = ready_records(pools, time.time())
    store = MemoryMachineStore(records)
    metrics = ControllerMetrics()
    pressure = PressureStore()
    power = PowerLog()
    crossings: dict[str, float] = {}
    """Node → when ingest last saw it cross, to split the figure into before and after."""

    def machine_changed(name: str) -> None:
        fleetstate.publish(metrics, config, records,
                           lambda node: (pressure.node_levels(node) or {}).get("cpu", 0.0),
                           machine=name)
        reactor.wake_for_machine(name, f"{name} changed state")

    def sampled(sample: PressureSample, crossed: bool) -> None:
        if crossed:
            crossings[sample.node] = time.monotonic()
            reactor.wake_for_node(sample.node, f"pressure crossing on {sample.node}")

    actuator = Actuator(config=config, store=store, records=records,
                        power_for=power.power_for, cluster=NeverJoins(), clock=time.time,
                        metrics=metrics, on_change=machine_changed)
    reactor = TimedReactor(config=config, actuator=actuator, records=records,
                           pressure=pressure, metrics=metrics, clock=time.time)
    reactor.passes = []
    detector = CrossingDetector(config)
    ingest = IngestServer(store=pressure,
                          authenticator=TokenAuthenticator(swarm.agent_tokens(agents, secret)),
                          metrics=metrics, on_sample=sampled, crossed=detector.crossed,
                          clock=time.time)
    runner = web.AppRunner(build_app(ingest=ingest, metrics=metrics, reactor=reactor,
                                     unhealthy=lambda: []),
                           access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    planning = asyncio.create_task(reactor.run(), name="reactor")

    async def port() -> int:
        return int(runner.addresses[0][1])

    async def passes() -> list[float]:
        taken, reactor.passes = reactor.passes, []
        return taken

    async def powered() -> tuple[list[tuple[str, float]], dict[str, float]]:
        return list(power.on), dict(crossings)

    try:
        await serve(conn, {"port": port, "passes": passes, "powered": powered})
    finally:
        planning.cancel()
        await reactor.close()
        await ingest.close()
        await runner.cleanup()


def schedule(pools: int, gap: float, rng: random.Random) -> list[tuple[float, int]]:
    """``(seconds from the start, pool)`` for one crossing per pool, in random order."""
    order = list(range(pools))
    rng.shuffle(order)
    at, events = 0.0, []
    for pool in order:
        at += rng.expovariate(1.0 / gap)
        events.append((at, pool))
    return events


def scan_latencies(sent: Sequence[float], *, period: float, phase: float,
                   planning: float) -> list[float]:
    """Each event's wait for the next tick of a loop scanning every ``period`` seconds
    (ticks at ``phase + k * period``), plus one planning pass."""
    return [(phase - at) % period + planning for at in sent]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class Outcome:
    """What one run measured: per pool, when its crossing was sent, seen and acted on."""

    sent: dict[int, float]
    received: dict[int, float]
    powered: dict[int, float]
    other_power_ons: int
    passes: list[float]
    controller: float
    """Share of a core the controller used while the crossings came."""
    others: float
    """Share of the controller's core other processes used meanwhile."""

    def latencies(self) -> list[float]:
        return [self.powered[p] - self.sent[p] for p in self.sent if p in self.powered]

    def lines(self, *, phase: float) -> list[str]:
        latencies = self.latencies()
        if not latencies:
            return [f"reaction: no power-on after {len(self.sent)} crossings"]
        planning = statistics.median(self.passes) if self.passes else 0.0
        scan = scan_latencies([self.sent[p] for p in self.sent if p in self.powered],
                              period=SCAN, phase=phase, planning=planning)
        seen = [p for p in self.sent if p in self.powered and p in self.received]
        ingest = [self.received[p] - self.sent[p] for p in seen]
        acting = [self.powered[p] - self.received[p] for p in seen]
        extra = f" ({self.other_power_ons} other power-ons)" if self.other_power_ons else ""
        return [
            f"reaction: p50 {_ms(latencies, 0.5)} ms, p99 {_ms(latencies, 0.99)} ms at "
            f"{AGENTS} agents; a {SCAN:g} s scan loop on the same events: "
            f"p50 {_ms(scan, 0.5)} ms, p99 {_ms(scan, 0.99)} ms",
            f"reaction: {len(latencies)} of {len(self.sent)} crossings powered their pool's "
            f"spare on{extra}; sent to seen p50 {_ms(ingest, 0.5)} ms, p99 {_ms(ingest, 0.99)} "
            f"ms; seen to power-on p50 {_ms(acting, 0.5)} ms, p99 {_ms(acting, 0.99)} ms",
            f"reaction: {len(self.passes)} planning passes over {2 * POOLS} machines in "
            f"{POOLS} pools, p50 {1000 * planning:.1f} ms, p99 "
            f"{_ms(self.passes or [0.0], 0.99)} ms; controller {100 * self.controller:.0f}% "
            f"of a core, other processes {100 * self.others:.0f}% of its core",
        ]


def run() -> list[str]:
    secret = secrets.token_hex(8)
    rng = random.Random()
    with foreground(GENERATOR_CPU), Children() as children:
        controller = children.start(controller_main, CONTROLLER_CPU, secret, AGENTS, POOLS)
        port = controller.ask("port")
        generators = [children.start(swarm.main, GENERATOR_CPU, swarm.Swarm(
            host="127.0.0.1", port=port, secret=secret, source=f"127.0.0.{2 + k}", seed=k))
            for k in range(GENERATORS)]
        swarm.connect(generators, range(AGENTS))
        time.sleep(SETTLE)
        outcome = _measure(controller, generators, schedule(POOLS, GAP, rng))
    return outcome.lines(phase=rng.uniform(0.0, SCAN))


def _measure(controller: Child, generators: list[Child],
             events: list[tuple[float, int]]) -> Outcome:
    controller.ask("passes")
    started, cpu = time.monotonic(), controller.cpu_seconds()
    core = core_busy_seconds(CONTROLLER_CPU)
    sent = _cross(generators, events)
    time.sleep(DRAIN)
    seconds = time.monotonic() - started
    used = controller.cpu_seconds() - cpu
    busy = core_busy_seconds(CONTROLLER_CPU) - core
    on, crossed = controller.ask("powered")
    passes = controller.ask("passes")
    powered = {_index(machine): at for machine, at in on if machine.startswith("spare-")}
    received = {pool: crossed[swarm.node_name(pool)] for pool in sent
                if swarm.node_name(pool) in crossed}
    return Outcome(sent=sent, received=received, powered=powered,
                   other_power_ons=len(on) - len(powered), passes=passes,
                   controller=used / seconds, others=max(0.0, busy - used) / seconds)


def _index(machine: str) -> int:
    return int(machine.rsplit("-", 1)[1])


def _ms(values: Sequence[float], fraction: float) -> str:
    return f"{1000 * percentile(values, fraction):.0f}"


def _cross(generators: list[Child], events: list[tuple[float, int]]) -> dict[int, float]:
    """Have each pool's node cross at its time; return pool → send time."""
    spikes = [(generator, ("spike", [(at, pool) for at, pool in events
                                     if pool % len(generators) == k], HIGH))
              for k, generator in enumerate(generators)]
    sent: dict[int, float] = {}
    for part in ask_all(spikes, timeout=events[-1][0] + 60.0):
        sent.update(part)
    return sent
