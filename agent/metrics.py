"""The agent's own endpoints: ``/metrics`` for Prometheus and ``/healthz``.

Metrics live in a registry of their own (not the process-global one) so tests can
run several agents in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

EVENT_COUNTERS = {
    "cpu": ("waits",),
    "memory": ("reclaims", "faults", "compact_stalls"),
    "network": ("rx_packets", "tx_packets", "drops", "retransmits"),
}
"""Which counters of each resource are probe events worth exporting as totals."""


class AgentMetrics:
    """Levels, rates, sources, probe events and stream health, for Prometheus."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.level = Gauge("bamel_agent_pressure_level", "Pressure level in [0, 1].",
                           ["resource"], registry=r)
        self.rate = Gauge("bamel_agent_pressure_rate", "Smoothed level change per second.",
                          ["resource"], registry=r)
        self.source = Gauge("bamel_agent_pressure_source",
                            "1 for the source each resource is measured from.",
                            ["resource", "source"], registry=r)
        self.events = Counter("bamel_agent_probe_events", "Events counted by the probes.",
                              ["resource", "event", "source"], registry=r)
        self.net_drops = Counter("bamel_agent_network_drops_by_reason",
                                 "Packets dropped, by kernel drop reason.", ["reason"], registry=r)
        self.dropped = Counter("bamel_agent_stream_dropped_samples",
                               "Samples dropped from the full send buffer.", registry=r)
        self.sent = Gauge("bamel_agent_stream_sent_samples", "Samples written to the stream.",
                          registry=r)
        self.connected = Gauge("bamel_agent_stream_connected", "1 while the stream is up.",
                               registry=r)
        self.buffered = Gauge("bamel_agent_stream_buffered_samples", "Samples waiting to be sent.",
                              registry=r)
        self._sources: dict[str, str] = {}
        self._drops_seen: dict[str, float] = {}

    def observe(self, *, levels: Mapping[str, float], rates: Mapping[str, float],
                sources: Mapping[str, str]) -> None:
        """Record one sample's levels, rates and sources."""
        for resource, value in levels.items():
            self.level.labels(resource).set(value)
        for resource, value in rates.items():
            self.rate.labels(resource).set(value)
        for resource, source in sources.items():
            previous = self._sources.get(resource)
            if previous is not None and previous != source:
                self.source.labels(resource, previous).set(0)
            self.source.labels(resource, source).set(1)
            self._sources[resource] = source

    def count_events(self, resource: str, source: str, delta: Mapping[str, float]) -> None:
        """Add one window's event counts."""
        for event in EVENT_COUNTERS.get(resource, ()):
            if delta.get(event, 0.0) > 0:
                self.events.labels(resource, event, source).inc(delta[event])

    def count_drops(self, totals: Mapping[str, float]) -> None:
        """Add drops per reason from cumulative totals."""
        for reason, total in totals.items():
            seen = self._drops_seen.get(reason, 0.0)
            if total > seen:
                self.net_drops.labels(reason).inc(total - seen)
            self._drops_seen[reason] = total

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


def make_app(metrics: AgentMetrics, *, last_sample_at: Callable[[], float | None],
             stale_after_s: float, clock: Callable[[], float] = time.monotonic) -> web.Application:
    """The aiohttp app serving /metrics and /healthz.

    Healthy means a sample was produced within ``stale_after_s``: the stream being down
    is reported in metrics but is not the agent's illness, so it does not fail the probe.
    """

    async def serve_metrics(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def serve_health(_: web.Request) -> web.Response:
        at = last_sample_at()
        if at is None:
            return web.Response(status=503, text="no sample yet\n")
        age = clock() - at
        if age > stale_after_s:
            return web.Response(status=503, text=f"last sample {age:.1f} s ago\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", serve_health)
    return app
