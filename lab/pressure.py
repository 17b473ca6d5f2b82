"""A hollow node's pressure, derived from the pods it runs, streamed as an agent would.

A hollow node has no kernel to measure, so its pressure comes from a load model:
each running pod uses its requests times a load factor (the pod's annotation
``lab.bamel.io/load``, e.g. ``memory=1.6,cpu=0.5``, times the workload's current
trace intensity), and each resource's utilisation (usage over the node's capacity)
becomes a level through a knee (:class:`Knees`), as real pressure does: nothing
while there is room, rising steeply as the resource runs out. The rate of change is
smoothed exactly as the agent smooths it, and samples leave through the agent's own
stream client, so the controller receives what a real agent would send.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.stream import StreamClient
from controller.config.units import parse_quantity
from controller.tasks import cancel_and_wait
from lab.fleet import GPU_RESOURCE, NETWORK_RESOURCE
from wire import PRESSURE_RESOURCES, PressureSample

LOAD_ANNOTATION = "lab.bamel.io/load"
REQUEST_NAMES = {"cpu": "cpu", "memory": "memory", "network": NETWORK_RESOURCE,
                 "gpu": GPU_RESOURCE}
"""Resource → the pod request that measures it."""

Intensity = Callable[[], Mapping[str, float]]
"""The workload's current load multiplier per resource (1.0 = pods use their load)."""


def steady() -> Mapping[str, float]:
    """No trace: every pod uses exactly its load."""
    return {}


@dataclass(frozen=True)
class Knees:
    """Utilisation at which each resource starts to hurt, and where it is full pain.

    CPU: run-queue waits appear once half the cores are busy (bursts collide) and
    reach one waiting task per CPU when demand meets capacity. Memory: reclaim starts
    when the page cache has been squeezed, past 0.7. Network: the agent reports link
    utilisation itself, so the knee is 0.
    """

    start: Mapping[str, float] = field(
        default_factory=lambda: {"cpu": 0.5, "memory": 0.7, "network": 0.0})
    full: float = 1.0


def parse_load(text: str | None) -> dict[str, float]:
    """``"cpu=0.5,memory=1.6"`` → {resource: factor}; unnamed resources use 1.0."""
    factors: dict[str, float] = {}
    for part in (text or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() in REQUEST_NAMES:
            try:
                factors[name.strip()] = max(0.0, float(value))
            except ValueError:
                continue
    return factors


def pod_requests(pod: Any) -> dict[str, float]:
    """Summed container requests in base units (cores, bytes, bit/s, devices)."""
    totals = dict.fromkeys(REQUEST_NAMES, 0.0)
    for container in pod.spec.containers or []:
        requests = (container.resources.requests if container.resources else None) or {}
        for resource, name in REQUEST_NAMES.items():
            if name in requests:
                totals[resource] += parse_quantity(str(requests[name]))
    return totals


def node_usage(pods: Iterable[Any], intensity: Mapping[str, float]) -> dict[str, float]:
    """What the pods use: requests x their load factor x the workload's intensity."""
    usage = dict.fromkeys(REQUEST_NAMES, 0.0)
    for pod in pods:
        annotations = pod.metadata.annotations or {}
        factors = parse_load(annotations.get(LOAD_ANNOTATION))
        for resource, amount in pod_requests(pod).items():
            usage[resource] += amount * factors.get(resource, 1.0) * intensity.get(resource, 1.0)
    return usage


def utilisation(usage: Mapping[str, float], capacity: Mapping[str, float]) -> dict[str, float]:
    return {r: usage.get(r, 0.0) / capacity[r] if capacity.get(r) else 0.0
            for r in PRESSURE_RESOURCES}


def levels_of(used: Mapping[str, float], knees: Knees) -> dict[str, float]:
    """Utilisation → pressure level in [0, 1] per resource."""
    levels = {}
    for resource in PRESSURE_RESOURCES:
        start = knees.start.get(resource, 0.0)
        span = max(knees.full - start, 1e-9)
        levels[resource] = min(1.0, max(0.0, (used.get(resource, 0.0) - start) / span))
    return levels


class RateSmoother:
    """The agent's smoothed rate of change (docs/pressure.md), τ = 5 s."""

    def __init__(self, time_constant: float = 5.0) -> None:
        self.time_constant = time_constant
        self.rates = dict.fromkeys(PRESSURE_RESOURCES, 0.0)
        self._previous: tuple[float, dict[str, float]] | None = None

    def update(self, now: float, levels: Mapping[str, float]) -> dict[str, float]:
        if self._previous is not None:
            then, before = self._previous
            elapsed = now - then
            if elapsed > 0:
                weight = 1.0 - math.exp(-elapsed / self.time_constant)
                for resource in PRESSURE_RESOURCES:
                    step = (levels[resource] - before[resource]) / elapsed
                    self.rates[resource] += weight * (step - self.rates[resource])
        self._previous = (now, dict(levels))
        return dict(self.rates)


class NodePressure:
    """Streams one booted node's pressure until closed; one boot id per instance."""

    def __init__(self, *, node: str, mac: str, capacity: Mapping[str, float],
                 pods: Callable[[], Iterable[Any]], url: str, token_file: Path,
                 intensity: Intensity = steady, interval: float = 1.0,
                 knees: Knees | None = None) -> None:
        self.node = node
        self.macs = (mac.lower(),) if mac else ()
        self.capacity = dict(capacity)
        self.interval = interval
        self.knees = knees or Knees()
        self.levels = dict.fromkeys(PRESSURE_RESOURCES, 0.0)
        self.utilisation = dict.fromkeys(PRESSURE_RESOURCES, 0.0)
        self._pods = pods
        self._intensity = intensity
        self._smoother = RateSmoother()
        self._boot_id = str(uuid.uuid4())
        self._seq = 0
        self._client = StreamClient(url=url, token_file=token_file)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> NodePressure:
        self._client.start()
        self._task = asyncio.create_task(self._run(), name=f"lab-pressure-{self.node}")
        return self

    async def close(self) -> None:
        """Stop sampling and streaming; safe to call twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._client.close()

    def sample(self, now: float | None = None) -> PressureSample:
        """Measure the pods now and return the sample (also kept in ``levels``)."""
        now = time.time() if now is None else now
        usage = node_usage(self._pods(), self._intensity())
        self.utilisation = utilisation(usage, self.capacity)
        self.levels = levels_of(self.utilisation, self.knees)
        rates = self._smoother.update(now, self.levels)
        self._seq += 1
        return PressureSample(
            node=self.node, boot_id=self._boot_id, macs=self.macs, timestamp=now,
            seq=self._seq, interval=self.interval, levels=dict(self.levels), rates=rates,
            sources=dict.fromkeys(PRESSURE_RESOURCES, "lab"))

    async def _run(self) -> None:
        while True:
            self._client.offer(self.sample())
            await asyncio.sleep(self.interval)
