"""Ingest: how many agents at 1 Hz one controller core takes without falling behind.

The controller's ingest (the real ``IngestServer`` route on aiohttp, a
``PressureStore``, a ``TokenAuthenticator`` holding one token per node, and the
``CrossingDetector`` hook, as ``controller.service`` wires them; the collector paced by
``controller.ingest.collector``) runs in its own process pinned to core 0. Generator
processes pinned to core 1 (``benchmarks.swarm``) hold one websocket per agent on
loopback, each agent with its own token, sending one frame a second at its own phase.
Every benchmark process runs at nice -20 (``benchmarks.procs``). The number of agents
goes up in steps; at each, once the new agents' burst is worked off, a window measures:

- the controller's CPU time (``/proc/<pid>/stat``) over the window, as a share of a core;
- frames the controller accepted against frames the generators sent;
- each frame's delay, receive time minus the send time it carries (both CLOCK_MONOTONIC).

A step is sustained when at least 99 % of the frames sent were accepted and no backlog
stands: the median delay of the window's last third is within 25 ms of its first
third's, and under 100 ms; a step that fails is measured once more before it counts.
The generators' CPU is measured too, and a step where they could not keep to their
schedule says so: it measured the generator, not the controller.

One process may hold only as many sockets as RLIMIT_NOFILE allows (20,000 on the
reference machine, and not raisable there). When the controller sustains that many,
the ramp goes on with some of the same agents sending twice a second, to find the
frame rate at which the core gives out.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from aiohttp import web

from benchmarks import swarm
from benchmarks.procs import (
    Child,
    Children,
    core_busy_seconds,
    descriptors,
    foreground,
    prepare,
    serve,
)
from controller.config import AutoscalerConfig
from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.ingest.collector import pace_collector
from controller.metrics import ControllerMetrics
from controller.triggers import CrossingDetector
from wire import PressureSample

STEPS = (2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000)
"""Agents at 1 Hz; past what one process has descriptors for (20,000 here), the same
connections carry the frames of more agents, some sending twice a second."""
BEYOND = 1.1
"""Past the descriptor limit, steps start 10 % above it (not 100 agents' frames more)."""
SPARE_DESCRIPTORS = 100
"""Descriptors the controller's process keeps for its listener, pipe, epoll and files."""
GENERATORS = 2
"""Generator processes, sharing core 1; each connects from its own loopback address."""
CONTROLLER_CPU, GENERATOR_CPU = 0, 1
SETTLE = 3.0
"""Seconds after the last new agent connected before the window opens (every agent has
sent at least twice, the first frame's crossing is behind)."""
MAX_SETTLE = 15.0
WINDOW = 8.0
KEPT = 0.99
GROWTH = 0.025
"""Seconds the median delay may climb from the window's first third to its last: 1 %
more frames than the controller can take climbs about 50 ms."""
LAGGING = 0.1
"""Seconds of delay that mean a standing backlog: a tenth of every agent's interval."""
CONFIG = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
          "pools": [{"name": "general"}]}


class DelayLog:
    """The hook after each accepted sample: its delay since the agent sent it."""

    def __init__(self) -> None:
        self.delays = array("d")

    def sampled(self, sample: PressureSample, crossed: bool) -> None:
        self.delays.append(time.monotonic() - sample.timestamp)

    def take(self) -> bytes:
        taken, self.delays = self.delays, array("d")
        return taken.tobytes()


def controller_main(conn: Connection, cpu: int, agents: int, secret: str) -> None:
    """The controller's process: ingest only, on ``cpu``, its collector paced as the
    controller's must be (``controller.ingest.collector``)."""
    prepare(cpu)
    pace_collector()
    asyncio.run(_controller(conn, agents, secret))


async def _controller(conn: Connection, agents: int, secret: str) -> None:
    config = AutoscalerConfig.model_validate(CONFIG)
    log = DelayLog()
    ingest = IngestServer(store=PressureStore(),
                          authenticator=TokenAuthenticator(swarm.agent_tokens(agents, secret)),
                          metrics=ControllerMetrics(), on_sample=log.sampled,
                          crossed=CrossingDetector(config).crossed, clock=time.time)
    app = web.Application()
    app.add_routes(ingest.routes())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()

    async def port() -> tuple[int, int]:
        """The bound port, and how many agents this process has descriptors for."""
        return int(runner.addresses[0][1]), descriptors() - SPARE_DESCRIPTORS

    async def frames() -> int:
        return ingest.stats.frames

    async def delays() -> bytes:
        return log.take()

    try:
        await serve(conn, {"port": port, "frames": frames, "delays": delays})
    finally:
        await ingest.close()
        await runner.cleanup()


@dataclass(frozen=True)
class Step:
    agents: int
    twice: int
    """Of the agents, how many sent two frames a second."""
    seconds: float
    sent: int
    accepted: int
    delays: list[float]
    controller: float
    """Share of a core over the window."""
    generators: float
    others: float
    """Share of the controller's core used by other processes of the machine."""

    @property
    def load(self) -> int:
        """Agents at 1 Hz whose frames the controller was sent."""
        return self.agents + self.twice

    @property
    def kept(self) -> float:
        return self.accepted / self.sent if self.sent else 0.0

    @property
    def thirds(self) -> tuple[float, float, float]:
        """Median delay of the first, middle and last third of the window's frames."""
        third = max(1, len(self.delays) // 3)
        parts = (self.delays[:third], self.delays[third:2 * third], self.delays[2 * third:])
        medians = [statistics.median(part) if part else 0.0 for part in parts]
        return medians[0], medians[1], medians[2]

    @property
    def behind(self) -> bool:
        """Frames wait in a backlog that is not worked off: the delay climbed during the
        window (its last third's median is more than GROWTH above its first third's), or
        stands above LAGGING."""
        first, _, last = self.thirds
        return last - first > GROWTH or last > LAGGING

    @property
    def sustained(self) -> bool:
        return self.kept >= KEPT and not self.behind

    @property
    def generator_limited(self) -> bool:
        """The generators sent under 99 % of their schedule: they, not the controller, set
        the pace."""
        return self.sent < KEPT * self.load * self.seconds

    def line(self) -> str:
        ordered = sorted(self.delays) or [0.0]
        p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
        thirds = "/".join(f"{1000 * m:.0f}" for m in self.thirds)
        verdict = "sustained" if self.sustained else "fell behind"
        if self.generator_limited:
            verdict += ", generator-limited"
        who = f"{self.agents:6d} agents"
        if self.twice:
            who += f", {self.twice} of them at 2 Hz (the frames of {self.load} agents)"
        return (f"ingest: {who}: {verdict}: {100 * self.kept:.2f}% of "
                f"{self.sent} frames accepted, delay p50 {1000 * p50:.1f} ms p99 "
                f"{1000 * p99:.1f} ms max {1000 * ordered[-1]:.0f} ms (thirds {thirds} ms), "
                f"controller "
                f"{100 * self.controller:.0f}% of a core, generators "
                f"{100 * self.generators:.0f}%, other processes {100 * self.others:.0f}% "
                f"of the controller's core")


def run() -> list[str]:
    secret = secrets.token_hex(8)
    with foreground(GENERATOR_CPU), Children() as children:
        controller = children.start(controller_main, CONTROLLER_CPU, STEPS[-1], secret)
        port, room = controller.ask("port")
        generators = [children.start(swarm.main, GENERATOR_CPU, swarm.Swarm(
            host="127.0.0.1", port=port, secret=secret, source=f"127.0.0.{2 + k}", seed=k))
            for k in range(GENERATORS)]
        load = Load(controller, generators)
        steps = load.ramp(sorted({min(step, room) for step in STEPS}), load.grow)
        best = _best(steps)
        beyond = []
        if best is not None and best.agents == room:
            beyond = load.ramp([step for step in STEPS if step > room * BEYOND],
                               lambda frames: load.double(frames - room))
    lines = [step.line() for step in (*steps, *beyond)]
    if best is None:
        return [*lines, f"ingest: not even {STEPS[0]} agents at 1 Hz sustained"]
    lines.append(f"ingest: {best.agents} agents at 1 Hz sustained, "
                 f"{100 * best.controller:.0f}% of a core")
    if best.agents == room:
        lines.append(_beyond_room(room, beyond))
    return lines


def _best(steps: list[Step]) -> Step | None:
    kept = [step for step in steps if step.sustained and not step.generator_limited]
    return kept[-1] if kept else None


def _beyond_room(room: int, beyond: list[Step]) -> str:
    """What the descriptor limit hid: the frame rate the core took past it."""
    text = (f"ingest: {room} agents is the most one process has descriptors for here "
            f"(RLIMIT_NOFILE {descriptors()})")
    best = _best(beyond)
    if best is not None:
        text += (f"; with some agents at 2 Hz one core took the frames of {best.load} agents "
                 f"at {100 * best.controller:.0f}% of a core")
    last = beyond[-1] if beyond else None
    if last is not None and last is not best:  # the ramp ends at the first failed step
        text += (f" and {'could not be driven' if last.generator_limited else 'fell behind'}"
                 f" at {last.load}")
    return text


@dataclass(frozen=True)
class Reading:
    """Counters of the controller and the generators at one instant."""

    at: float
    controller_cpu: float
    generators_cpu: float
    core_busy: float
    accepted: int
    sent: int


class Load:
    """The running controller and generators, as the parent steers and reads them."""

    def __init__(self, controller: Child, generators: list[Child]) -> None:
        self.controller = controller
        self.generators = generators
        self.agents = 0
        self.twice = 0

    def ramp(self, loads: list[int], apply: Callable[[int], None]) -> list[Step]:
        """For each load in turn: apply it, settle, measure; stop after the first step
        that falls behind or that the generators could not drive. A step that fell
        behind is measured once more first: on a machine shared with other work, a
        burst of theirs can hold the controller's core for a moment."""
        steps: list[Step] = []
        for load in loads:
            apply(load)
            self.settle()
            step = self.measure()
            if not step.sustained and not step.generator_limited:
                self.settle()
                step = self.measure()
            steps.append(step)
            if not step.sustained or step.generator_limited:
                break
        return steps

    def double(self, extra: int) -> None:
        """Have ``extra`` of the agents send twice a second, shared among the generators."""
        share = [extra // len(self.generators)] * len(self.generators)
        share[0] += extra - sum(share)
        for generator, count in zip(self.generators, share, strict=True):
            generator.ask("double", count)
        self.twice = extra

    def grow(self, agents: int) -> None:
        """Connect agents up to ``agents``."""
        swarm.connect(self.generators, range(self.agents, agents))
        self.agents = agents

    def settle(self) -> None:
        """Wait SETTLE seconds, then until a second's frames are all accepted (the backlog
        of the connections' burst is gone), for at most MAX_SETTLE seconds."""
        time.sleep(SETTLE)
        deadline = time.monotonic() + MAX_SETTLE
        before = self.read()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            after = self.read()
            sent, accepted = after.sent - before.sent, after.accepted - before.accepted
            if sent and abs(accepted / sent - 1.0) <= 1.0 - KEPT:
                return
            before = after

    def read(self) -> Reading:
        sent = sum(int(g.ask("counts")[0]) for g in self.generators)
        at = time.monotonic()
        return Reading(at=at, controller_cpu=self.controller.cpu_seconds(),
                       generators_cpu=sum(g.cpu_seconds() for g in self.generators),
                       core_busy=core_busy_seconds(CONTROLLER_CPU),
                       accepted=int(self.controller.ask("frames")), sent=sent)

    def measure(self) -> Step:
        """One WINDOW of steady load."""
        self.controller.ask("delays")
        start = self.read()
        time.sleep(WINDOW)
        end = self.read()
        delays = array("d")
        delays.frombytes(self.controller.ask("delays"))
        seconds = end.at - start.at
        used = end.controller_cpu - start.controller_cpu
        return Step(agents=self.agents, twice=self.twice, seconds=seconds,
                    sent=end.sent - start.sent, accepted=end.accepted - start.accepted,
                    delays=delays.tolist(),
                    controller=used / seconds,
                    generators=(end.generators_cpu - start.generators_cpu) / seconds,
                    others=max(0.0, end.core_busy - start.core_busy - used) / seconds)
