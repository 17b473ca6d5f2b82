"""The latest pressure sample per node, and per-pool aggregates, in numpy arrays.

At 10,000 agents a Python object per sample would cost more than the decoding;
rows in preallocated arrays keep an update O(1) and a pool aggregate one
vectorised mean. Columns follow ``wire.PRESSURE_RESOURCES``.
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
        self.boot_ids.append(boot_id)
        return row

    def _grow(self) -> None:
        size = len(self.received) * 2
        self.levels = np.resize(self.levels, (size, self.levels.shape[1]))
        self.rates = np.resize(self.rates, (size, self.rates.shape[1]))
        self.received = np.concatenate([self.received, np.full(size // 2, -np.inf)])
        self.intervals = np.concatenate([self.intervals, np.ones(size // 2)])
        self.seq = np.concatenate([self.seq, np.zeros(size // 2, dtype=np.int64)])
