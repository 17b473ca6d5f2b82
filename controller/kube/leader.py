"""Leader election on a coordination.k8s.io/v1 Lease: of two replicas, one acts.

Same rules as client-go's leaderelection, whose timings are the defaults: a
candidate takes the Lease only when it has seen the holder's renewTime unchanged
for a whole lease duration (15 s) by its own clock, so clock skew between
replicas cannot make two leaders; a leader renews every retry period (2 s) and
steps down when it has not renewed for the renew deadline (10 s), which is
shorter than the lease, so it stops acting before anyone else may start. Every
write carries the resourceVersion read, so of two racing candidates one gets 409.

``leading`` is an asyncio.Event the service awaits before acting;
``lost`` is set when leadership ends, and the service must then stop acting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeError, KubeNotFound
from controller.tasks import Spawn, cancel_and_wait, spawn_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTimings:
    lease_seconds: float = 15.0
    """How long a silent holder keeps the Lease before another may take it."""
    renew_seconds: float = 10.0
    """A leader that has not renewed for this long steps down (less than the lease)."""
    retry_seconds: float = 2.0
    """Between attempts to acquire, and between renewals."""


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Competes for one Lease; start() returns at once, ``leading`` tells the outcome."""

    def __init__(self, client: KubeClient, *, name: str, namespace: str, identity: str,
                 timings: LeaseTimings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 spawn: Spawn = spawn_task) -> None:
        self.client = client
        self.path = api_path("coordination.k8s.io/v1", "leases", namespace=namespace)
        self.name, self.namespace, self.identity = name, namespace, identity
        self.timings = timings or LeaseTimings()
        self.clock = clock
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = self._spawn(self._run(), name=f"leader-election {self.name}")

    async def close(self) -> None:
        """Stop competing; a leader releases the Lease so a successor need not wait."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
            if self.leading.is_set():
                with contextlib.suppress(KubeError):
                    await self._write(await self._read(), holder="", duration=1)
                log.info("%s released %s", self.identity, self.name)
                self.leading.clear()

    async def _run(self) -> None:
        while True:
            try:
                if await self._try_acquire_or_renew():
                    self._renewed_at = self.clock()
                    if not self.leading.is_set():
                        log.info("%s became leader of %s", self.identity, self.name)
                        self.leading.set()
            except KubeError as error:
                log.warning("leader election %s: %s", self.name, error)
            if self.leading.is_set() and \
                    self.clock() - self._renewed_at > self.timings.renew_seconds:
                self._step_down()
            await asyncio.sleep(self.timings.retry_seconds)

    def _step_down(self) -> None:
        if self.leading.is_set():
            log.warning("%s lost leadership of %s", self.identity, self.name)
            self.leading.clear()
            self.lost.set()

    async def _read(self) -> JSON | None:
        try:
            return await self.client.request("GET", f"{self.path}/{self.name}")
        except KubeNotFound:
            return None

    async def _try_acquire_or_renew(self) -> bool:
        lease = await self._read()
        if lease is None:
            await self._write(None, holder=self.identity)
            return True
        spec = lease.get("spec", {})
        holder = spec.get("holderIdentity") or ""
        observed = (holder, str(spec.get("renewTime")))
        if observed != self._observed:
            self._observed, self._observed_at = observed, self.clock()
        expired = self.clock() - self._observed_at > float(
            spec.get("leaseDurationSeconds") or self.timings.lease_seconds)
        if holder and holder != self.identity and not expired:
            return False
        await self._write(lease, holder=self.identity)
        return True

    async def _write(self, lease: JSON | None, *, holder: str,
                     duration: float | None = None) -> None:
        now = _micro_now()
        spec: JSON = {"holderIdentity": holder,
                      "leaseDurationSeconds": int(duration or self.timings.lease_seconds),
                      "renewTime": now}
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": now, "leaseTransitions": 0}}
            await self.client.request("POST", self.path, body=body)
            return
        old = lease.get("spec", {})
        if old.get("holderIdentity") != holder:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        body = {**lease, "spec": {**old, **spec}}
        await self.client.request("PUT", f"{self.path}/{self.name}", body=body)
