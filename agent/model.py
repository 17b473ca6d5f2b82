"""The pressure model: cumulative counters in, a level in [0, 1] and a rate out.

Pure arithmetic over two readings, so the unit tests can drive it with recorded
counter sequences. The formulas are written out in docs/pressure.md; every source
(eBPF, PSI, /proc) is first reduced to the same counter names so that the model does
not care where a figure came from, only over how many CPUs a stall was summed
(``parallelism``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

NS_PER_S = 1e9


@dataclass(frozen=True)
class Reading:
    """One resource's cumulative counters at one instant, from one source.

    ``parallelism`` divides summed stall time: the eBPF run-queue wait is summed over
    tasks, so it is divided by the CPU count to give wait per CPU-second; PSI's
    "some" time is already wall-clock, so 1.
    """

    source: str
    at: float
    counters: Mapping[str, float]
    parallelism: float = 1.0


@dataclass(frozen=True)
class ModelSettings:
    """Scales that turn rates into levels (see docs/pressure.md)."""

    link_bits_per_s: float = 1e9
    """Capacity the network utilisation is measured against (sum of link speeds)."""
    fault_saturation_per_s: float = 500_000.0
    """User page faults per second that alone count as the fault term's full weight."""
    fault_weight: float = 0.2
    """How much of the memory level page faults can contribute; reclaim stalls dominate."""
    loss_saturation: float = 0.1
    """Drop (or retransmit) ratio treated as full network pressure: 10 % lost is severe."""
    loss_min_packets_per_s: float = 1000.0
    """Floor on the packet count a loss ratio is taken over, so a few idle drops stay small."""
    rate_time_constant_s: float = 5.0
    """Time constant of the exponential smoothing of the level's rate of change."""


def counter_delta(before: float, after: float) -> float:
    """Increase of a cumulative counter; a decrease means it restarted from zero."""
    return after - before if after >= before else after


def deltas(before: Reading, after: Reading) -> dict[str, float]:
    """Per-counter increases between two readings of the same source."""
    return {
        name: counter_delta(before.counters.get(name, 0.0), value)
        for name, value in after.counters.items()
    }


def clip01(value: float) -> float:
    """Clamp to [0, 1]; NaN (no data) counts as 0."""
    if not math.isfinite(value):
        return 1.0 if value > 0 else 0.0
    return min(1.0, max(0.0, value))


def cpu_level(delta: Mapping[str, float], seconds: float, parallelism: float) -> float:
    """Run-queue wait per CPU-second: the share of time work was ready but not running."""
    return clip01(delta.get("stall_ns", 0.0) / (NS_PER_S * seconds * parallelism))


def memory_level(delta: Mapping[str, float], seconds: float, settings: ModelSettings) -> float:
    """Share of time stalled in reclaim, plus a bounded term for the page-fault rate."""
    stalled = delta.get("stall_ns", 0.0) / (NS_PER_S * seconds)
    faults = delta.get("faults", 0.0) / seconds / settings.fault_saturation_per_s
    return clip01(clip01(stalled) + settings.fault_weight * clip01(faults))


def network_level(delta: Mapping[str, float], seconds: float, settings: ModelSettings) -> float:
    """The worst of link utilisation, drop ratio and retransmit ratio, each in [0, 1]."""
    rx_bits = delta.get("rx_bytes", 0.0) * 8 / seconds
    tx_bits = delta.get("tx_bytes", 0.0) * 8 / seconds
    utilisation = max(rx_bits, tx_bits) / settings.link_bits_per_s
    floor = settings.loss_min_packets_per_s * seconds
    packets = delta.get("rx_packets", 0.0) + delta.get("tx_packets", 0.0)
    drops = delta.get("drops", 0.0)
    drop_ratio = drops / max(packets + drops, floor)
    retransmit_ratio = delta.get("retransmits", 0.0) / max(delta.get("tx_packets", 0.0), floor)
    return clip01(
        max(
            utilisation,
            drop_ratio / settings.loss_saturation,
            retransmit_ratio / settings.loss_saturation,
        )
    )


def level_between(
    resource: str, before: Reading, after: Reading, settings: ModelSettings
) -> float | None:
    """The resource's level over the window between two readings, or None if unknowable.

    Unknowable when the source changed (its counters do not compare) or no time passed.
    A long window (missed intervals) is fine: every term is divided by its length.
    """
    seconds = after.at - before.at
    if before.source != after.source or seconds <= 0:
        return None
    delta = deltas(before, after)
    if resource == "cpu":
        return cpu_level(delta, seconds, after.parallelism)
    if resource == "memory":
        return memory_level(delta, seconds, settings)
    if resource == "network":
        return network_level(delta, seconds, settings)
    raise ValueError(f"unknown resource {resource!r}")


@dataclass
class SmoothedRate:
    """Exponentially smoothed rate of change of one level, per second.

    The smoothing weight depends on the elapsed time (1 - e^(-Δt/τ)), so a missed
    interval weighs the longer step more instead of being treated as one tick.
    """

    time_constant_s: float
    level: float | None = None
    at: float | None = None
    rate: float = 0.0

    def update(self, level: float, at: float) -> float:
        """Fold in a new level observed at time ``at``; return the smoothed rate."""
        if self.level is not None and self.at is not None and at > self.at:
            seconds = at - self.at
            instant = (level - self.level) / seconds
            weight = 1.0 - math.exp(-seconds / self.time_constant_s)
            self.rate += weight * (instant - self.rate)
        self.level, self.at = level, at
        return self.rate


@dataclass
class PressureModel:
    """Levels and smoothed rates per resource, from successive readings."""

    settings: ModelSettings = field(default_factory=ModelSettings)
    _last: dict[str, Reading] = field(default_factory=dict)
    _rates: dict[str, SmoothedRate] = field(default_factory=dict)
    levels: dict[str, float] = field(default_factory=dict)

    def peek(self, readings: Mapping[str, Reading]) -> dict[str, float]:
        """Levels since the last update, without moving the baseline (threshold checks)."""
        out: dict[str, float] = {}
        for resource, reading in readings.items():
            before = self._last.get(resource)
            level = None if before is None else level_between(
                resource, before, reading, self.settings
            )
            if level is not None:
                out[resource] = level
        return out

    def update(self, readings: Mapping[str, Reading]) -> tuple[dict[str, float], dict[str, float]]:
        """Move the baseline to ``readings``; return (levels, rates) for known resources.

        A resource whose level is unknowable this window (first reading, source switch)
        keeps its previous level, so a sample never loses a resource it had.
        """
        for resource, level in self.peek(readings).items():
            self.levels[resource] = level
            rate = self._rates.setdefault(
                resource, SmoothedRate(self.settings.rate_time_constant_s)
            )
            rate.update(level, readings[resource].at)
        self._last.update(readings)
        rates = {r: self._rates[r].rate for r in self.levels if r in self._rates}
        return dict(self.levels), rates
