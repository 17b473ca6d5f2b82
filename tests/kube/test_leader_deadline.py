"""A leader steps down at its renew deadline, counted from the start of its last good
renewal, even while a renewal hangs; the gate answers for the instant it is asked.

The API server here is a scripted one (a dict holding the Lease) that can be told to
hang every request, as a stopped-but-connected server does; the real one is in
``tests/reliability/test_apiserver_faults.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from controller.kube.client import JSON, KubeClient
from controller.kube.errors import KubeNotFound
from controller.kube.leader import LeaderElector, LeaseTimings

TIMINGS = LeaseTimings(lease_seconds=0.6, renew_seconds=0.4, retry_seconds=0.1)


class LeaseServer:
    """Holds one Lease; ``hang`` makes every request wait forever."""

    def __init__(self) -> None:
        self.lease: JSON | None = None
        self.hang = False
        self.version = 0

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> JSON:
        if self.hang:
            await asyncio.Event().wait()
        if method == "GET":
            if self.lease is None:
                raise KubeNotFound(path)
            return self.lease
        self.version += 1
        meta = {**body["metadata"], "resourceVersion": str(self.version)}
        self.lease = {**body, "metadata": meta}
        return self.lease


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _elector(server: LeaseServer, clock: Any = time.monotonic) -> LeaderElector:
    client: KubeClient = server  # type: ignore[assignment]
    return LeaderElector(client, name="lease", namespace="ns", identity="me",
                         timings=TIMINGS, clock=clock)


async def test_a_hanging_renewal_steps_down_at_the_renew_deadline_before_the_lease_ends(
) -> None:
    server = LeaseServer()
    elector = _elector(server)
    await elector.start()
    try:
        await asyncio.wait_for(elector.leading.wait(), 2)
        await asyncio.sleep(0.25)  # a few renewals
        server.hang = True
        hung_at = time.monotonic()
        await asyncio.wait_for(elector.lost.wait(), 2)
        renewed = elector.renew_deadline - TIMINGS.renew_seconds
        assert elector.stepped_down_at is not None
        assert renewed <= hung_at
        # no later than the deadline by more than a scheduling slice; before the lease
        assert TIMINGS.renew_seconds <= elector.stepped_down_at - renewed < 0.5
        assert not elector.still_leading()
    finally:
        await elector.close()


async def test_the_gate_answers_for_now_even_while_the_election_loop_is_stuck() -> None:
    server, clock = LeaseServer(), Clock()
    elector = _elector(server, clock)
    await elector.start()
    try:
        await asyncio.wait_for(elector.leading.wait(), 2)
        server.hang = True
        await asyncio.sleep(0.01)  # the loop now waits on a request that never ends
        clock.now += TIMINGS.renew_seconds - 0.01
        assert elector.still_leading()
        clock.now += 0.01
        assert not elector.still_leading()
        assert elector.lost.is_set() and elector.stepped_down_at == clock.now
    finally:
        await elector.close()


async def test_a_leader_that_reads_another_holder_steps_down_at_once() -> None:
    server = LeaseServer()
    elector = _elector(server)
    await elector.start()
    try:
        await asyncio.wait_for(elector.leading.wait(), 2)
        assert server.lease is not None
        server.lease = {**server.lease, "spec": {**server.lease["spec"],
                                                 "holderIdentity": "rival",
                                                 "renewTime": "2099-01-01T00:00:00.000000Z"}}
        taken = time.monotonic()
        await asyncio.wait_for(elector.lost.wait(), 2)
        assert elector.stepped_down_at is not None
        assert elector.stepped_down_at - taken <= TIMINGS.retry_seconds + 0.1
    finally:
        await elector.close()
