"""A cluster's own history, read from its Prometheus, as the trace the simulator replays.

An operator asks what the autoscaler would have done on *their* load, and Prometheus
already keeps it: node_exporter's cpu and memory use of every node and, where
kube-state-metrics runs, the requests of the pods that were running or waiting. The
demand of a resource at a moment is the larger of what was used and what was
requested: a machine whose capacity is all requested takes no more pods however idle
it is, and one whose pods use more than they asked for is busy all the same.

Demand is absolute (cores, bytes) and becomes a share of the simulated fleet's
capacity, so the report answers for these machines and this load, not a load scaled
to a peak. prometheus-api-client makes the range queries (it is synchronous; this
runs once, before the simulation); a range is split so that no answer exceeds
Prometheus's limit of 11,000 points per series.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from controller.config import RESOURCES
from scoring.model import FloatArray
from simulation.trace import Trace, TraceError

MAX_POINTS = 10_000
"""Steps per range query, below Prometheus's 11,000-point refusal."""
MIN_RATE_WINDOW = 300.0
"""Seconds a cpu rate is taken over at least: four 1-minute scrapes, the slowest
interval node_exporter is commonly scraped at, so every window holds samples."""
TIMEOUT = 60
"""Seconds one range query may take: weeks of history are summed on the server."""
RETRY = Retry(total=3, backoff_factor=0.5, status_forcelist=(429, 502, 503, 504),
              allowed_methods=("GET",))
"""A Prometheus restarting or shedding load answers 502–504 or 429 for seconds;
three tries half a second apart outlast it without stalling on a wrong URL."""

BUSY_MODES = 'mode!~"idle|iowait|steal"'
"""cpu time spent working: waiting for disks or for the hypervisor is not load."""
LIVE_PODS = ('max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"})')
"""1 for a pod running or waiting to be scheduled, 0 for one that has finished."""


@dataclass(frozen=True)
class Query:
    """One series of demand: the PromQL, its resource, and what it measures."""

    resource: str
    kind: str
    """``used`` (node_exporter) or ``requested`` (kube-state-metrics)."""
    promql: str


def queries(rate_window: float) -> tuple[Query, ...]:
    """The demand series, cpu in cores and memory in bytes, summed over the cluster."""
    window = f"{int(rate_window)}s"
    return (
        Query("cpu", "used", f"sum(rate(node_cpu_seconds_total{{{BUSY_MODES}}}[{window}]))"),
        Query("memory", "used",
              "sum(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)"),
        Query("cpu", "requested", _requests("cpu")),
        Query("memory", "requested", _requests("memory")),
    )


def _requests(resource: str) -> str:
    return (f'sum(kube_pod_container_resource_requests{{resource="{resource}"}} '
            f"* on (namespace, pod) group_left() {LIVE_PODS})")


@dataclass(frozen=True)
class History:
    """What was read: demand (rows, resources) in capacity units at ``times`` (seconds
    from the start of the range), and which queries found nothing."""

    times: FloatArray
    demand: FloatArray
    step: float
    missing: tuple[Query, ...]
    gaps: int
    """Rows with no cpu use measured (Prometheus down, the newest minutes not yet
    scraped), each holding the value of the row before."""

    def trace(self, capacity: FloatArray) -> Trace:
        """The history as shares of a fleet's capacity (rows, resources), unscaled."""
        share = np.divide(self.demand, capacity, out=np.zeros_like(self.demand),
                          where=capacity > 0)
        return Trace(self.times, share, self.step, tuple(self.warnings(share)))

    def warnings(self, share: FloatArray) -> Iterator[str]:
        for query in self.missing:
            source = "node_exporter" if query.kind == "used" else "kube-state-metrics"
            yield f"no {query.resource} {query.kind} ({source}) in this range: not counted"
        if self.gaps > 0:
            yield (f"{self.gaps} of {len(self.times)} rows have no cpu measurement: each "
                   f"holds the one before it")
        peak = float(share.max(initial=0.0))
        if peak > 1:
            resource = RESOURCES[int(np.unravel_index(np.argmax(share), share.shape)[1])]
            yield (f"at its busiest the cluster's {resource} demand is {peak:.0%} of the "
                   f"fleet's: the fleet is smaller than the cluster Prometheus measured")


def read_history(url: str, *, since: float, step: float, end: datetime | None = None) -> History:
    """Demand over the ``since`` seconds before ``end`` (now), one row per ``step``."""
    if step <= 0 or since < step:
        raise TraceError(f"--since {since:g}s must hold at least one --stride {step:g}s")
    end = end or datetime.now(UTC)
    finish = float(int(end.timestamp() // step) * step)
    grid = np.arange(finish - since + step, finish + step / 2, step)
    demand = np.zeros((len(grid), len(RESOURCES)))
    missing: list[Query] = []
    gaps = 0
    with _connect(url) as client:
        for query in queries(max(step, MIN_RATE_WINDOW)):
            values = _series(client, query.promql, grid, step)
            if np.isnan(values).all():
                missing.append(query)
                continue
            if query.resource == "cpu" and query.kind == "used":
                gaps = int(np.isnan(values).sum())
            column = RESOURCES.index(query.resource)
            demand[:, column] = np.maximum(demand[:, column], _held(values))
    if any(q.resource == "cpu" and q.kind == "used" for q in missing):
        raise TraceError(f"no node_cpu_seconds_total (node_exporter) in the "
                         f"{since / 86400:g} days before {end.isoformat(timespec='seconds')}")
    return History(grid - grid[0], demand, step, tuple(missing), gaps)


def _connect(url: str) -> PrometheusConnect:
    return PrometheusConnect(url=url, retry=RETRY, timeout=TIMEOUT)


def _series(client: PrometheusConnect, promql: str, grid: FloatArray,
            step: float) -> FloatArray:
    """The query's one series on the grid, NaN where Prometheus has no value."""
    values = np.full(len(grid), np.nan)
    for first in range(0, len(grid), MAX_POINTS):
        chunk = grid[first:first + MAX_POINTS]
        try:
            result = client.custom_query_range(
                promql, start_time=datetime.fromtimestamp(chunk[0], UTC),
                end_time=datetime.fromtimestamp(chunk[-1], UTC), step=f"{step:g}s")
        except (PrometheusApiClientException, requests.RequestException) as error:
            raise TraceError(f"{promql}: {_reason(error)}") from error
        for series in result:
            for stamp, text in series["values"]:
                row = round((float(stamp) - float(grid[0])) / step)
                if 0 <= row < len(grid):
                    values[row] = float(text)
    return values


def _held(values: FloatArray) -> FloatArray:
    """NaN filled with the value before it (the first value before the first)."""
    known = ~np.isnan(values)
    index = np.where(known, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    held: FloatArray = values[index]
    first = values[np.argmax(known)]
    held[np.isnan(held)] = first
    return held


def _reason(error: Exception) -> str:
    if isinstance(error, requests.ConnectionError):
        return "cannot connect"
    if isinstance(error, requests.Timeout):
        return f"no answer within {TIMEOUT:g} s"
    return str(error)


def redact(url: str) -> str:
    """The URL without a user or password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
