"""The lab's workload: Deployments that ramp up and down, and a real trace's rhythm.

Two things make load. Pods with requests, in Deployments scaled on a schedule
(:data:`DEMO_STEPS`, at fractions of the run so any duration plays the whole
story): they go Pending when no node has room, which is the autoscaler's first
signal. And how hard those pods work: a slice of a real datacenter trace
(../shared/traces, Alibaba 2018), compressed into the run, scales every pod's
usage up and down around its load, which is the second signal, pressure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controller.config import RESOURCES
from controller.tasks import cancel_and_wait
from lab.cluster import Cluster
from lab.fleet import GPU_RESOURCE, GPU_TAINT, NETWORK_RESOURCE, POOL_LABEL
from simulation.trace import TraceError, load_trace

log = logging.getLogger(__name__)

TRACE = Path(os.environ.get(
    "BAMEL_TRACE", Path(__file__).resolve().parents[2] / "shared" / "traces" / "alibaba2018"
    / "machine_usage_days_1_to_8_grouped_30_seconds.csv"))
TRACE_COLUMNS = {"cpu": "cpu_util_percent", "memory": "mem_util_percent", "network": "net_in"}


@dataclass(frozen=True)
class App:
    """One Deployment: what each pod asks for, how hard it works, where it may run."""

    name: str
    pool: str
    requests: Mapping[str, str]
    load: str = ""
    """``lab.bamel.io/load``: usage as a multiple of the requests, per resource."""
    tolerate_gpu: bool = False
    min_available: int | None = None
    """A PodDisruptionBudget's minAvailable, so drains must respect it."""


@dataclass(frozen=True)
class Step:
    at: float
    """Fraction of the run, 0 to 1."""
    app: str
    replicas: int


DEMO_APPS = (
    App("web", "general", {"cpu": "500m", "memory": "1Gi"}, load="cpu=1.3,memory=0.6",
        min_available=1),
    App("batch", "general", {"cpu": "6", "memory": "4Gi"}, load="cpu=1.1"),
    App("cache", "general", {"cpu": "1", "memory": "60Gi"}, load="memory=1.1,cpu=0.3"),
    App("stream", "general", {"cpu": "1", "memory": "2Gi", NETWORK_RESOURCE: "20G"},
        load="network=0.9,cpu=0.5"),
    App("train", "gpu", {"cpu": "2", "memory": "8Gi", GPU_RESOURCE: "1"}, load="cpu=0.9",
        tolerate_gpu=True),
)

DEMO_STEPS = (
    Step(0.00, "web", 2),
    Step(0.08, "web", 6),
    Step(0.15, "batch", 4),
    Step(0.25, "cache", 3),
    Step(0.30, "stream", 2),
    Step(0.35, "train", 2),
    Step(0.55, "batch", 0),
    Step(0.55, "train", 0),
    Step(0.58, "stream", 0),
    Step(0.62, "cache", 0),
    Step(0.65, "web", 2),
)


class TraceIntensity:
    """A slice of a utilisation trace played over ``duration`` seconds.

    The intensity of each resource is the trace's value now over its mean across the
    slice, so pods work at their load on average and the trace's ups and downs (and
    the balance between CPU, memory and network) come through.
    """

    def __init__(self, *, duration: float, path: Path = TRACE, start_hour: float = 32.0,
                 hours: float = 6.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.duration = duration
        self.clock = clock
        self.path = path
        trace = load_trace(path, mapping=TRACE_COLUMNS, stride="30s")
        first = int(np.searchsorted(trace.times, start_hour * 3600.0))
        last = int(np.searchsorted(trace.times, (start_hour + hours) * 3600.0))
        rows = trace.share[first:max(last, first + 1)]
        means = rows.mean(axis=0)
        self._ratios = np.divide(rows, means, out=np.ones_like(rows), where=means > 0)
        self._started = clock()

    def __call__(self) -> dict[str, float]:
        elapsed = (self.clock() - self._started) % max(self.duration, 1e-9)
        row = min(len(self._ratios) - 1, int(elapsed / self.duration * len(self._ratios)))
        return {r: float(self._ratios[row, RESOURCES.index(r)]) for r in TRACE_COLUMNS}


def trace_intensity(duration: float) -> Callable[[], Mapping[str, float]]:
    """The trace's intensity, or a steady one (with a warning) when the trace is absent."""
    try:
        return TraceIntensity(duration=duration)
    except TraceError as error:
        log.warning("no trace (%s): pods work at their load, steadily", error)
        return dict


@dataclass
class Workload:
    """Creates the apps in ``namespace`` and plays the steps over ``duration`` seconds."""

    cluster: Cluster
    namespace: str
    duration: float
    apps: tuple[App, ...] = DEMO_APPS
    steps: tuple[Step, ...] = DEMO_STEPS
    clock: Callable[[], float] = time.monotonic
    replicas: dict[str, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> Workload:
        await self.cluster.ensure_namespace(self.namespace)
        for app in self.apps:
            await self._apply(app, 0)
            if app.min_available is not None:
                await self.cluster.disruption_budget(self.namespace, app.name,
                                                     min_available=app.min_available)
        self._task = asyncio.create_task(self._play(), name="lab-workload")
        return self

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _play(self) -> None:
        started = self.clock()
        for step in sorted(self.steps, key=lambda s: s.at):
            await asyncio.sleep(max(0.0, started + step.at * self.duration - self.clock()))
            await self.cluster.scale(self.namespace, step.app, step.replicas)
            self.replicas[step.app] = step.replicas
            log.info("workload: %s → %d replicas", step.app, step.replicas)

    async def _apply(self, app: App, replicas: int) -> None:
        tolerations = [dict(GPU_TAINT, operator="Equal")] if app.tolerate_gpu else []
        await self.cluster.deploy(self.namespace, app.name, replicas=replicas,
                                  requests=app.requests, selector={POOL_LABEL: app.pool},
                                  load=app.load, tolerations=tolerations)
        self.replicas[app.name] = replicas
