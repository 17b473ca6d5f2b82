"""Synthetic load of the shapes real fleets have, so the policy is never tuned to one trace.

A real trace shows one fleet's load. The shapes below are the ones that decide how
much an autoscaler can save and how it fails: load that hardly moves (a whole
datacenter), load that follows the day (an office or a web service), a quiet fleet
with heavy-tailed bursts (managed hosting), and load that grows (a launch). Each is
cpu percent of the traced capacity every ``stride`` seconds, seeded, with a noise
level that multiplies the shape's own noise (0 gives the bare shape):

- ``steady``: 60 % with a slow wander (a detrended random walk of 0.3-point steps)
  and 1-point white noise: no daily rhythm, nearly all of it within ±10 points.
- ``diurnal``: a 24-hour cycle (15 % at night, office-hours peaks of 65 % on weekdays
  and 40 % at weekends), the same wander, and about three 5–15-point bursts a day of
  10–60 minutes (they are part of the shape, not of its noise).
- ``bursty``: 8 % with a 0.1-point wander and bursts arriving about six times a day,
  lasting 20 minutes on average (exponential), whose heights are Pareto
  (α 1.5, from 10 points): most are small, a few fill the datacenter. Heavy tail:
  the median is near 8 %, the busiest moments ten times that.
- ``ramp``: from 20 % to 80 % in a straight line over the trace, with the steady
  shape's noise.

``bamel simulate --synthetic SHAPE`` replays one without a file;
``python -m simulation.synthetic OUT.csv [--shape diurnal] [--days 8] [--stride 30]``
writes one as a CSV with the Alibaba trace's layout (percent columns, fixed stride).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from controller.config import RESOURCES
from scoring.model import FloatArray
from simulation.trace import Trace, TraceError

DAY = 86400.0
WANDER_ROWS = 241
"""Rows of the moving average the wander's walk is detrended with, so it wanders
around the shape instead of drifting away from it (all the rows of a shorter trace)."""

Shape = Callable[..., FloatArray]
"""(days=, stride=, seed=, noise=) → cpu percent, one value per row."""


def _times(days: float, stride: float) -> FloatArray:
    times: FloatArray = np.arange(0.0, days * DAY, stride)
    return times


def _wander(rng: np.random.Generator, rows: int, step: float) -> FloatArray:
    """A random walk of ``step``-point steps less its moving average: slow noise."""
    walk: FloatArray = np.cumsum(rng.normal(0.0, step, rows))
    window = min(WANDER_ROWS, rows)
    walk -= np.convolve(walk, np.ones(window) / window, mode="same")
    return walk


def steady(*, days: float = 8.0, stride: float = 30.0, seed: int = 1,
           noise: float = 1.0) -> FloatArray:
    """(rows,) cpu percent: 60 % with noise and no rhythm."""
    rng = np.random.default_rng(seed)
    rows = len(_times(days, stride))
    level = 60.0 + _wander(rng, rows, 0.3 * noise) + rng.normal(0.0, 1.0 * noise, rows)
    cpu: FloatArray = np.clip(level, 1.0, 100.0)
    return cpu


def diurnal(*, days: float = 8.0, stride: float = 30.0, seed: int = 3,
            noise: float = 1.0) -> FloatArray:
    """(rows, 2): cpu and network percent every stride seconds."""
    rng = np.random.default_rng(seed)
    times = _times(days, stride)
    hour = (times % DAY) / 3600.0
    weekday = ((times // DAY) % 7) < 5
    daily = np.exp(-(((hour - 14.0) / 4.0) ** 2))
    base = 15.0 + np.where(weekday, 50.0, 25.0) * daily
    walk = _wander(rng, len(times), 0.3 * noise)
    bursts = np.zeros(len(times))
    for start in rng.choice(len(times), size=max(1, int(days * 3)), replace=False):
        length = int(rng.integers(10, 60) * 60 / stride)
        bursts[start:start + length] += rng.uniform(5.0, 15.0)
    cpu = np.clip(base + walk + bursts, 1.0, 100.0)
    network = np.clip(0.6 * cpu + 10.0 + rng.normal(0.0, 1.0 * noise, len(times)), 1.0, 100.0)
    return np.column_stack([cpu, network])


BURSTS_PER_DAY = 6.0
BURST_MINUTES = 20.0
BURST_TAIL = 1.5
"""Pareto index of burst heights: below 2 the heights' variance is unbounded."""
BURST_SCALE = 10.0
"""Percentage points of the smallest burst."""


def bursty(*, days: float = 8.0, stride: float = 30.0, seed: int = 1,
           noise: float = 1.0) -> FloatArray:
    """(rows,) cpu percent: a quiet base under heavy-tailed bursts."""
    rng = np.random.default_rng(seed)
    rows = len(_times(days, stride))
    level = 8.0 + _wander(rng, rows, 0.1 * noise)
    for start in np.flatnonzero(rng.random(rows) < BURSTS_PER_DAY * stride / DAY):
        length = max(1, int(rng.exponential(BURST_MINUTES * 60.0) / stride))
        level[start:start + length] += BURST_SCALE * (1.0 + rng.pareto(BURST_TAIL))
    cpu: FloatArray = np.clip(level, 1.0, 100.0)
    return cpu


def ramp(*, days: float = 8.0, stride: float = 30.0, seed: int = 1,
         noise: float = 1.0) -> FloatArray:
    """(rows,) cpu percent: 20 % growing to 80 % over the trace, with noise."""
    rng = np.random.default_rng(seed)
    rows = len(_times(days, stride))
    line = np.linspace(20.0, 80.0, rows)
    level = line + _wander(rng, rows, 0.3 * noise) + rng.normal(0.0, 1.0 * noise, rows)
    cpu: FloatArray = np.clip(level, 1.0, 100.0)
    return cpu


SHAPES: Mapping[str, Shape] = MappingProxyType({
    "steady": steady,
    "diurnal": lambda **kwargs: diurnal(**kwargs)[:, 0],
    "bursty": bursty,
    "ramp": ramp,
})
"""Every shape by name: its cpu percent, one value per row."""


def cpu_percent(shape: str, *, days: float, stride: float, seed: int,
                noise: float) -> FloatArray:
    """The cpu percent of the named shape; TraceError names a bad argument."""
    make = SHAPES.get(shape)
    if make is None:
        raise TraceError(f"--synthetic: unknown shape {shape!r} (known: {', '.join(SHAPES)})")
    if noise < 0:
        raise TraceError(f"--noise: {noise:g} must be 0 or above")
    if stride <= 0 or days * DAY < stride:
        raise TraceError(f"--stride {stride:g}s and --duration {days:g}d: the trace needs "
                         f"at least one row")
    return make(days=days, stride=stride, seed=seed, noise=noise)


def synthetic_trace(shape: str, *, days: float = 8.0, stride: float = 30.0, seed: int = 1,
                    noise: float = 1.0) -> Trace:
    """The named shape as a Trace of cpu load (the other resources idle)."""
    cpu = cpu_percent(shape, days=days, stride=stride, seed=seed, noise=noise)
    share = np.zeros((len(cpu), len(RESOURCES)))
    share[:, RESOURCES.index("cpu")] = cpu / 100.0
    return Trace(np.arange(len(cpu), dtype=np.float64) * stride, share, stride)


def write(path: Path, values: FloatArray) -> None:
    """A percent CSV: cpu and network columns for (rows, 2), cpu only for (rows,)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if values.ndim == 1:
            writer.writerow(["cpu_percent"])
            writer.writerows([f"{cpu:.3f}"] for cpu in values)
            return
        writer.writerow(["cpu_percent", "net_percent"])
        writer.writerows([f"{cpu:.3f}", f"{net:.3f}"] for cpu, net in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shape", choices=list(SHAPES), default="diurnal",
                        help="diurnal (the default) also writes a network column")
    parser.add_argument("--days", type=float, default=8.0)
    parser.add_argument("--stride", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--noise", type=float, default=1.0)
    args = parser.parse_args()
    options = {"days": args.days, "stride": args.stride, "seed": args.seed, "noise": args.noise}
    values = (diurnal(**options) if args.shape == "diurnal"
              else cpu_percent(args.shape, **options))
    write(args.out, values)


if __name__ == "__main__":
    main()
