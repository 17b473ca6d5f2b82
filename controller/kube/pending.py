"""Pending pods: what the scheduler could not place, grouped by the pool that could.

A PendingTracker follows the pod informer. Each pod the scheduler marks
Unschedulable (DaemonSet pods aside: a new node brings its own) enters the set the
moment the watch shows it; pods leave when bound or deleted. A burst of pods is
counted once: after the first new pod the tracker waits a short batch window
(``window``, 0.3 s) for the rest of the burst, then publishes one PendingSnapshot
on its queue. Pods leaving the set (bound, deleted) publish a snapshot the same
way, so a controller never keeps acting on demand the scheduler already placed.
Between changes it publishes nothing: the controller waits on events, it does not
poll.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from controller.config.schema import RESOURCES, AutoscalerConfig, PoolSpec
from controller.kube.scheduling import (
    is_daemonset_pod,
    is_unschedulable,
    pod_requests,
    pool_can_host,
)
from controller.kube.watching import Change, object_key
from controller.tasks import Spawn, cancel_and_wait, spawn_task


@dataclass(frozen=True)
class PendingPod:
    key: str
    """``namespace/name``."""
    requests: dict[str, float]
    pools: tuple[str, ...]
    """Pools whose nodes would accept the pod, in configuration order (may be empty)."""
    seen: float
    """Monotonic time at which the watch first showed the pod Unschedulable."""


@dataclass(frozen=True)
class PoolDemand:
    """Pending pods one pool could host and the sum of their requests."""

    pods: tuple[PendingPod, ...] = ()
    requests: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0.0))


@dataclass(frozen=True)
class PendingSnapshot:
    """Every pending pod at one instant. A pod that several pools could host is counted
    in each of them: choosing between pools is the planner's job."""

    at: float
    pools: dict[str, PoolDemand]
    unhostable: tuple[PendingPod, ...]
    """Pending pods that no pool could host: nothing to power on for them."""
    new: tuple[str, ...]
    """Keys of the pods that became pending since the previous snapshot."""


class PendingTracker:
    """Follows pod changes; publishes a PendingSnapshot per burst on ``snapshots``."""

    def __init__(
        self, pools: Sequence[PoolSpec], *, window: float = 0.3,
        clock: Callable[[], float] = time.monotonic, spawn: Spawn = spawn_task,
    ) -> None:
        self.pools = list(pools)
        self.window = window
        self.clock = clock
        self.pending: dict[str, PendingPod] = {}
        self.snapshots: asyncio.Queue[PendingSnapshot] = asyncio.Queue()
        self._new: list[str] = []
        self._left = False
        self._arrived = asyncio.Event()
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    def observe(self, change: Change) -> None:
        """Informer handler: update the pending set from one pod change."""
        pod, key = change.object, object_key(change.object)
        if change.type == "DELETED" or not is_unschedulable(pod) or is_daemonset_pod(pod):
            if self.pending.pop(key, None) is not None:
                self._left = True
                self._arrived.set()
            return
        if key in self.pending:
            return
        hosts = tuple(pool.name for pool in self.pools if pool_can_host(pod, pool))
        self.pending[key] = PendingPod(key, pod_requests(pod), hosts, self.clock())
        self._new.append(key)
        self._arrived.set()

    def reconfigure(self, config: AutoscalerConfig) -> None:
        """A new configuration's pools host the pods that become pending from now on."""
        self.pools = list(config.pools)

    def snapshot(self) -> PendingSnapshot:
        """The pending set now, grouped by pool (pure: no waiting)."""
        grouped: dict[str, list[PendingPod]] = {pool.name: [] for pool in self.pools}
        unhostable = []
        for pod in self.pending.values():
            for name in pod.pools:
                grouped[name].append(pod)
            if not pod.pools:
                unhostable.append(pod)
        pools = {name: PoolDemand(tuple(pods), _total(pods)) for name, pods in grouped.items()}
        new, self._new = tuple(self._new), []
        return PendingSnapshot(self.clock(), pools, tuple(unhostable), new)

    async def start(self) -> None:
        self._task = self._spawn(self._run(), name="pending-pods")

    async def close(self) -> None:
        """Stop publishing; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            await asyncio.sleep(self.window)
            self._arrived.clear()
            if self._new or self._left:
                self._left = False
                self.snapshots.put_nowait(self.snapshot())


def _total(pods: Sequence[PendingPod]) -> dict[str, float]:
    return {name: sum(pod.requests[name] for pod in pods) for name in RESOURCES}
