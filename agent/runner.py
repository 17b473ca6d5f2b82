"""The agent's supervisor: sampling loop, stream, HTTP endpoints, and shutdown.

The sampling loop reads counters every check interval, and emits a sample when the
send interval has passed or a level crossed a threshold since the last sample. It
hands samples to the stream without waiting; one bad iteration is logged and survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from agent.identity import NodeIdentity, host_facts, identify
from agent.metrics import AgentMetrics, make_app
from agent.model import PressureModel, Reading, deltas
from agent.sampler import Sampler, default_loader
from agent.settings import AgentSettings
from agent.stream import Backoff, StreamClient
from wire import PressureSample

log = logging.getLogger(__name__)


def crossed(before: float, after: float, thresholds: tuple[float, ...]) -> bool:
    """True when a threshold lies between two levels (either direction)."""
    low, high = min(before, after), max(before, after)
    return any(low < t <= high for t in thresholds)


def urgent(
    last: Mapping[str, float], now: Mapping[str, float], *, elapsed_s: float,
    settings: AgentSettings,
) -> bool:
    """Whether the levels since the last sample call for sending one at once."""
    for resource, level in now.items():
        before = last.get(resource)
        if before is None:
            continue
        if crossed(before, level, settings.level_thresholds):
            return True
        if elapsed_s > 0 and abs(level - before) / elapsed_s >= settings.rate_threshold_per_s:
            return True
    return False


class Agent:
    """Owns the sampler, model, stream and endpoints for one node."""

    def __init__(self, settings: AgentSettings, *, sampler: Sampler | None = None,
                 identity: NodeIdentity | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings.validate()
        self.sampler = sampler or Sampler(
            use_bpf=settings.use_bpf,
            loader=default_loader(timeout_s=settings.probe_load_timeout_s))
        self.identity = identity or identify()
        self.model = PressureModel(settings.model)
        self.metrics = AgentMetrics()
        self.clock = clock
        self.seq = itertools.count()
        self.last_sample_at: float | None = None
        self.stream: StreamClient | None = None
        self._readings: dict[str, Reading] = {}

    def prime(self) -> None:
        """Load probes and take the baseline reading."""
        self.sampler.start()
        self._readings = self.sampler.read()
        self.model.update(self._readings)

    def sample(self, readings: Mapping[str, Reading], window_s: float) -> PressureSample:
        """Move the model to ``readings`` and build the sample for the window."""
        for resource, reading in readings.items():
            before = self._readings.get(resource)
            if before is not None and before.source == reading.source:
                self.metrics.count_events(resource, reading.source, deltas(before, reading))
        self._readings = dict(readings)
        levels, rates = self.model.update(readings)
        sources = self.sampler.sources()
        self.metrics.observe(levels=levels, rates=rates, sources=sources)
        self.metrics.count_drops(self.sampler.drops_by_reason())
        self.last_sample_at = self.clock()
        return PressureSample(
            node=self.identity.node, boot_id=self.identity.boot_id, macs=self.identity.macs,
            timestamp=time.time(), seq=next(self.seq), interval=window_s,
            levels=levels, rates=rates,
            sources={r: s for r, s in sources.items() if r in levels},
        )

    async def sample_once(self) -> PressureSample:
        """Prime, wait one interval, and return one sample (``--once``)."""
        self.prime()
        started = self.clock()
        await asyncio.sleep(self.settings.interval_s)
        return self.sample(self.sampler.read(), self.clock() - started)

    async def _loop(self) -> None:
        last_sent = self.clock()
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            try:
                readings = self.sampler.read()
                now = self.clock()
                elapsed = now - last_sent
                due = elapsed >= self.settings.interval_s - 1e-3
                if not due and not urgent(self.model.levels, self.model.peek(readings),
                                          elapsed_s=elapsed, settings=self.settings):
                    continue
                sample = self.sample(readings, elapsed)
                last_sent = now
                self._publish(sample)
            except Exception:
                log.exception("sampling iteration failed; continuing")

    def _publish(self, sample: PressureSample) -> None:
        if self.stream is None:
            return
        self.stream.offer(sample)
        self.metrics.buffered.set(len(self.stream.buffer))
        self.metrics.sent.set(self.stream.stats.sent)
        self.metrics.connected.set(1 if self.stream.stats.connected else 0)

    async def run(self) -> None:
        """Run until cancelled, then close everything in reverse order."""
        log.info("agent settings: %s", self.settings.as_dict())
        self.prime()
        runner: web.AppRunner | None = None
        try:
            if self.settings.controller is not None:
                self.stream = StreamClient(
                    url=self.settings.controller, token_file=self.settings.token_file,
                    buffer_size=self.settings.buffer_size,
                    backoff=Backoff(self.settings.backoff_base_s, self.settings.backoff_cap_s),
                    on_drop=self.metrics.dropped.inc,
                    host=lambda: host_facts(self.identity),
                )
                self.stream.start()
            if self.settings.metrics_port is not None:
                runner = await self._serve()
            await self._loop()
        finally:
            if runner is not None:
                await runner.cleanup()
            if self.stream is not None:
                await self.stream.close()
            self.sampler.close()

    async def _serve(self) -> web.AppRunner:
        app = make_app(self.metrics, last_sample_at=lambda: self.last_sample_at,
                       stale_after_s=3 * self.settings.interval_s + 1, clock=self.clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.metrics_host, self.settings.metrics_port)
        await site.start()
        log.info("serving /metrics and /healthz on %s:%s", self.settings.metrics_host,
                 self.settings.metrics_port)
        return runner


async def run_forever(agent: Agent) -> None:
    """Run the agent; a cancellation (signal) ends it cleanly."""
    with contextlib.suppress(asyncio.CancelledError):
        await agent.run()
