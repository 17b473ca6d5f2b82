"""``NotTriggerScaleUp``: an Event on each pending pod that powers no machine on, and why.

A pod that fits no machine (too big, a selector no template has, a taint it does not
tolerate) would otherwise wait in silence while the autoscaler looks idle. The
Cluster Autoscaler's answer is an Event on the pod; this is the same, with the
reason the estimate gave. One Event per pod and reason, repeated at most every
``repeat`` seconds while the pod still waits for the same reason: a pass runs on
every change, and a pod's Events must stay readable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from controller.kube.client import JSON
from controller.kube.resources import EventRecorder
from controller.tasks import Spawn, cancel_and_wait, spawn_task

REASON = "NotTriggerScaleUp"
REPEAT = 600.0
"""Seconds before the same pod's Event for the same reason is written again."""


class ScaleUpNotices:
    """Queues an Event per newly unplaceable pod; a task writes them in order."""

    def __init__(self, events: EventRecorder, *, pods: Mapping[str, JSON],
                 repeat: float = REPEAT, clock: Callable[[], float] = time.monotonic,
                 spawn: Spawn = spawn_task) -> None:
        self.events = events
        self.pods = pods
        """The pod informer's cache: ``namespace/name`` → the pod as last seen."""
        self.repeat = repeat
        self.clock = clock
        self._said: dict[tuple[str, str], float] = {}
        self._queue: asyncio.Queue[tuple[JSON, str]] = asyncio.Queue()
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    def note(self, reasons: Mapping[str, str]) -> None:
        """Pods (``namespace/name`` → why) that powered nothing on in the last pass."""
        now = self.clock()
        for key, why in reasons.items():
            said = self._said.get((key, why))
            pod = self.pods.get(key)
            if pod is None or (said is not None and now - said < self.repeat):
                continue
            self._said[(key, why)] = now
            self._queue.put_nowait((pod, why))
        self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop what was said long ago or of pods gone: the table stays bounded."""
        stale = [said for said, at in self._said.items()
                 if now - at >= self.repeat or said[0] not in self.pods]
        for said in stale:
            del self._said[said]

    async def start(self) -> None:
        self._task = self._spawn(self._run(), name="scale-up-notices")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            pod, why = await self._queue.get()
            await self.events.record({**pod, "apiVersion": "v1", "kind": "Pod"}, REASON,
                                     f"pod didn't trigger scale-up: {why}", warning=False)
