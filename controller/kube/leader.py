"""Leader election on a coordination.k8s.io/v1 Lease: of two replicas, one acts.

Same rules as client-go's leaderelection, whose timings are the defaults: a
candidate takes the Lease only when it has seen the holder's renewTime unchanged
for a whole lease duration (15 s) by its own clock, so clock skew between
replicas cannot make two leaders; a leader renews every retry period (2 s) and
steps down when it has not renewed for the renew deadline (10 s), which is
shorter than the lease, so it stops acting before anyone else may start. Every
write carries the resourceVersion read, so of two racing candidates one gets 409.

The renew deadline is counted on the monotonic clock from the moment the last
successful attempt began (before its read and write were sent): the Lease's new
renewTime cannot reach another candidate earlier, so that candidate's lease
duration ends later than this deadline whatever the requests' latency. A renewal
that hangs (an API server that accepts connections and never answers) is cut off
at the deadline rather than at the request timeout (30 s, longer than the lease),
and a leader that reads the Lease held by another steps down at once.

``leading`` is an asyncio.Event the service awaits before acting; ``lost`` is set
when leadership ends, and the service must then stop acting. ``still_leading()``
answers for this instant (stepping down if the deadline has passed): every power
command and eviction asks it right before going out (``controller.leadership``).
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
        self.stepped_down_at: float | None = None
        """When (on ``clock``) this replica stopped leading; None while it has not."""
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

    def still_leading(self) -> bool:
        """True while this replica leads and its renew deadline has not passed; steps
        down (``lost``) the first time it finds the deadline passed."""
        if not self.leading.is_set():
            return False
        if self.clock() >= self.renew_deadline:
            self._step_down(f"not renewed for {self.clock() - self._renewed_at:.1f}s "
                            f"(renew deadline {self.timings.renew_seconds:g}s, "
                            f"lease {self.timings.lease_seconds:g}s)")
            return False
        return True

    @property
    def renew_deadline(self) -> float:
        """When (on ``clock``) a leader that has not renewed since stops acting."""
        return self._renewed_at + self.timings.renew_seconds

    async def _run(self) -> None:
        while True:
            started = self.clock()
            try:
                if await self._attempt():
                    self._renewed_at = started
                    if not self.leading.is_set():
                        log.info("%s became leader of %s", self.identity, self.name)
                        self.leading.set()
                elif self.leading.is_set():
                    self._step_down(f"the Lease is held by {self._observed[0]!r}"
                                    if self._observed else "the Lease is held by another")
            except KubeError as error:
                log.warning("leader election %s: %s", self.name, error)
            except TimeoutError:
                log.warning("leader election %s: no answer before the renew deadline",
                            self.name)
            await asyncio.sleep(self._pause())

    async def _attempt(self) -> bool:
        """One acquire-or-renew; a leader's is cut off at its renew deadline."""
        if not self.still_leading():
            return await self._try_acquire_or_renew()
        async with asyncio.timeout(self.renew_deadline - self.clock()):
            return await self._try_acquire_or_renew()

    def _pause(self) -> float:
        """The retry period, or less: a leader wakes at its renew deadline to step down."""
        if not self.still_leading():
            return self.timings.retry_seconds
        return max(0.0, min(self.timings.retry_seconds, self.renew_deadline - self.clock()))

    def _step_down(self, why: str) -> None:
        if self.leading.is_set():
            self.stepped_down_at = self.clock()
            log.warning("%s lost leadership of %s: %s", self.identity, self.name, why)
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
