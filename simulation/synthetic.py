"""A synthetic diurnal trace, so defaults are never tuned to one real trace alone.

Weekday office-hours peaks, quieter weekends, slow noise and short bursts, written as
a CSV with the same layout as the Alibaba trace (percent columns, fixed stride):
``python -m simulation.synthetic OUT.csv [--days 8] [--stride 30]``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from scoring.model import FloatArray

DAY = 86400.0


def diurnal(*, days: float = 8.0, stride: float = 30.0, seed: int = 3) -> FloatArray:
    """(rows, 2): cpu and network percent every stride seconds."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, days * DAY, stride)
    hour = (times % DAY) / 3600.0
    weekday = ((times // DAY) % 7) < 5
    daily = np.exp(-(((hour - 14.0) / 4.0) ** 2))
    base = 15.0 + np.where(weekday, 50.0, 25.0) * daily
    walk = np.cumsum(rng.normal(0.0, 0.3, len(times)))
    walk -= np.convolve(walk, np.ones(241) / 241, mode="same")
    bursts = np.zeros(len(times))
    for start in rng.choice(len(times), size=max(1, int(days * 3)), replace=False):
        length = int(rng.integers(10, 60) * 60 / stride)
        bursts[start:start + length] += rng.uniform(5.0, 15.0)
    cpu = np.clip(base + walk + bursts, 1.0, 100.0)
    network = np.clip(0.6 * cpu + 10.0 + rng.normal(0.0, 1.0, len(times)), 1.0, 100.0)
    return np.column_stack([cpu, network])


def write(path: Path, values: FloatArray) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cpu_percent", "net_percent"])
        writer.writerows([f"{cpu:.3f}", f"{net:.3f}"] for cpu, net in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--days", type=float, default=8.0)
    parser.add_argument("--stride", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    write(args.out, diurnal(days=args.days, stride=args.stride, seed=args.seed))


if __name__ == "__main__":
    main()
