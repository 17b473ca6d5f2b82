"""The latest pressure sample per node, and per-pool aggregates, in numpy arrays.

At 10,000 agents a Python object per sample would cost more than the decoding;
rows in preallocated arrays keep an update O(1) and a pool aggregate one
vectorised mean. Columns follow ``wire.PRESSURE_RESOURCES``.

Nodes come and go (autoscaled machines, replaced ones, names an agent made up):
a row held for every name ever seen would grow without end, so ``forget_silent``
drops the rows of nodes silent for longer than the caller says, moving the last
row into each freed one so that the rows stay dense and the capacity is what the
most nodes ever reporting at once needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from wire import PRESSURE_RESOURCES, PressureSample

STALE_INTERVALS = 5.0
"""A node silent for this many of its intervals no longer counts in aggregates."""


@dataclass(frozen=True)
class PoolPressure:
    """Mean level and rate over a pool's fresh nodes, (resources,) each."""

    levels: NDArray[np.float64]
    rates: NDArray[np.float64]
    nodes: int


class PressureStore:
    """Rows of levels, rates and receive times, one per node, grown by doubling."""

    def __init__(self, capacity: int = 64) -> None:
        width = len(PRESSURE_RESOURCES)
        self.index: dict[str, int] = {}
        self.levels = np.zeros((capacity, width))
        self.rates = np.zeros((capacity, width))
        self.received = np.full(capacity, -np.inf)
        self.intervals = np.ones(capacity)
        self.seq = np.zeros(capacity, dtype=np.int64)
        self.boot_ids: list[str] = []
        self._names: list[str] = []
        """Row → node, the inverse of ``index``."""
        self.macs: dict[str, tuple[str, ...]] = {}
        self.sources: dict[str, dict[str, str]] = {}

    def update(self, sample: PressureSample, *, now: float) -> bool:
        """Store sample; False when it is older than what is held (a replay or reorder)."""
        row = self.index.get(sample.node)
        if row is None:
            row = self._add(sample.node, sample.boot_id)
        elif self.boot_ids[row] == sample.boot_id and sample.seq <= self.seq[row]:
            return False
        self.boot_ids[row] = sample.boot_id
        levels, rates = sample.levels, sample.rates
        for column, resource in enumerate(PRESSURE_RESOURCES):
            self.levels[row, column] = levels.get(resource, 0.0)
            self.rates[row, column] = rates.get(resource, 0.0)
        self.received[row] = now
        self.intervals[row] = sample.interval or 1.0
        self.seq[row] = sample.seq
        if self.macs.get(sample.node) != sample.macs:
            self.macs[sample.node] = sample.macs
        if self.sources.get(sample.node) != sample.sources:
            self.sources[sample.node] = sample.sources
        return True

    def aggregate(self, nodes: Iterable[str], *, now: float) -> PoolPressure:
        """Mean pressure over the named nodes that reported recently."""
        rows = np.fromiter((self.index[n] for n in nodes if n in self.index), dtype=np.intp)
        if rows.size:
            fresh = now - self.received[rows] <= STALE_INTERVALS * self.intervals[rows]
            rows = rows[fresh]
        if not rows.size:
            width = len(PRESSURE_RESOURCES)
            return PoolPressure(np.zeros(width), np.zeros(width), 0)
        return PoolPressure(self.levels[rows].mean(axis=0), self.rates[rows].mean(axis=0),
                            int(rows.size))

    def forget_silent(self, *, now: float, after: float) -> list[str]:
        """Drop every node not heard from for more than ``after`` seconds; return them.

        Its learned MACs and sources go too: a later sample from it starts afresh.
        """
        rows = np.flatnonzero(self.received[: len(self.index)] < now - after)
        names = [self._names[row] for row in rows]
        for name in names:
            self._remove(name)
        return names

    def __len__(self) -> int:
        return len(self.index)

    @property
    def capacity(self) -> int:
        """Rows allocated: the most nodes held at once, rounded up to a power of two."""
        return len(self.received)

    def node_levels(self, node: str) -> dict[str, float] | None:
        """The latest levels of one node, for display."""
        row = self.index.get(node)
        if row is None:
            return None
        return {r: float(v) for r, v in zip(PRESSURE_RESOURCES, self.levels[row], strict=True)}

    def _add(self, node: str, boot_id: str) -> int:
        row = len(self.index)
        if row == len(self.received):
            self._grow()
        self.index[node] = row
        self._names.append(node)
        self.boot_ids.append(boot_id)
        return row

    def _remove(self, node: str) -> None:
        """Free node's row by moving the last row into it."""
        row = self.index.pop(node)
        last = len(self._names) - 1
        if row != last:
            moved = self._names[last]
            for column in (self.levels, self.rates, self.received, self.intervals, self.seq):
                column[row] = column[last]
            self._names[row] = moved
            self.boot_ids[row] = self.boot_ids[last]
            self.index[moved] = row
        self.received[last] = -np.inf
        self._names.pop()
        self.boot_ids.pop()
        self.macs.pop(node, None)
        self.sources.pop(node, None)

    def _grow(self) -> None:
        size = len(self.received) * 2
        self.levels = np.resize(self.levels, (size, self.levels.shape[1]))
        self.rates = np.resize(self.rates, (size, self.rates.shape[1]))
        self.received = np.concatenate([self.received, np.full(size // 2, -np.inf)])
        self.intervals = np.concatenate([self.intervals, np.ones(size // 2)])
        self.seq = np.concatenate([self.seq, np.zeros(size // 2, dtype=np.int64)])
