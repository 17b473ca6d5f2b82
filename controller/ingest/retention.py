"""Forgetting nodes that left, so that memory follows the fleet and not its history.

The pressure store keeps a row per node and the crossing detector a band per node.
Autoscaled machines come and go, Nodes are replaced under new names, and an agent
token can speak for a name nobody configured: kept for ever, those entries grow
with every name the controller has ever heard. A node silent for ``forget_after``
seconds is dropped from the store and from everyone told of it (``on_forget``).

Forgetting costs little when it is wrong: a node that comes back after it was
forgotten starts a new row, its first sample counts as a threshold crossing (one
extra planning pass), and the replay check (sequence numbers) starts from that
sample. Aggregates already leave a node out after 5 silent intervals, so no
decision reads a row that is about to be forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from controller.ingest.store import PressureStore

log = logging.getLogger(__name__)

FORGET_AFTER = 600.0
"""Seconds of silence after which a node is forgotten. Ten minutes outlasts every
silence of a node that is still there: an agent's reconnect backoff (at most 30 s),
a controller restart and the agents' reconnect storm after it, and a machine lost
and waited for (``--node-lost-after``, 180 s). At 1 KB or so per node, holding the
nodes that left in the last ten minutes costs less than a megabyte even when a
hundred churn a minute."""

SWEEP_EVERY_MAX = 60.0
"""A sweep runs every tenth of ``forget_after``, at most this many seconds apart:
a node is forgotten between ``forget_after`` and 1.1 × ``forget_after`` after its
last sample (a sweep is one vectorised comparison over the rows)."""


class NodeRetention:
    """Sweeps the store for silent nodes and tells ``on_forget`` of each one it drops."""

    def __init__(self, store: PressureStore, *, forget_after: float = FORGET_AFTER,
                 on_forget: Callable[[str], None], clock: Callable[[], float]) -> None:
        if not forget_after > 0:
            raise ValueError(f"forget_after must be above 0 seconds, got {forget_after!r}")
        self.store = store
        self.forget_after = forget_after
        self.every = min(forget_after / 10, SWEEP_EVERY_MAX)
        self.forgotten = 0
        """Nodes forgotten since start."""
        self._on_forget = on_forget
        self._clock = clock
        """The clock the store's receive times were stamped with."""

    def sweep(self) -> list[str]:
        """Forget every node silent for more than forget_after seconds; return them."""
        names = self.store.forget_silent(now=self._clock(), after=self.forget_after)
        for name in names:
            self._on_forget(name)
        if names:
            self.forgotten += len(names)
            log.info("forgot %d node(s) silent for over %gs", len(names), self.forget_after)
        return names

    async def run(self) -> None:
        """Sweep every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.every)
            self.sweep()
