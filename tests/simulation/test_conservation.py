"""Every policy stays within physics: energy between all-off and all-on, ready
capacity never above the fleet; and a seed fixes the run."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulation import POLICIES, make_policy, simulate
from simulation.metrics import JOULES_PER_KWH
from tests.simulation.builders import fleet, trace

HOURS = 12


def wavy(hours: int = HOURS) -> list[float]:
    """Percent every minute: a day-like swing with a sharp burst."""
    minutes = np.arange(hours * 60)
    load = 40 + 35 * np.sin(minutes / 60 / hours * 2 * math.pi)
    load[300:330] += 20
    return np.clip(load, 2, 100).tolist()


@pytest.mark.parametrize("name", POLICIES)
def test_energy_and_capacity_stay_within_the_fleet(name: str, tmp_path: Path) -> None:
    built = fleet(count=12, shapes=None)
    replay = trace(tmp_path / "t.csv", wavy(), network=[10.0] * HOURS * 60)
    run = simulate(built, replay, make_policy(name, built.config), seed=4)
    seconds = replay.duration
    floor = built.off_watts.sum() * seconds / JOULES_PER_KWH
    ceiling = built.busy_watts.sum() * seconds / JOULES_PER_KWH
    assert floor <= run.figures.energy_kwh <= ceiling
    assert (run.series.ready <= 1.0 + 1e-12).all()
    assert (run.series.ready >= 0).all()
    assert 0.0 <= run.figures.unmet_share <= 1.0
    assert 0.0 <= run.figures.deficit_time_share <= 1.0


def test_a_seed_fixes_the_run(tmp_path: Path) -> None:
    shape = {"name": "flaky", "pool": "general", "count": 10,
             "capacity": {"cpu": 8, "memory": "32Gi"}, "bootTime": {"min": "1m", "max": "5m"},
             "failureRate": 0.3, "idleWatts": 100, "busyWatts": 300}
    built = fleet(shapes=[shape])
    replay = trace(tmp_path / "t.csv", wavy())

    def figures(seed: int) -> object:
        run = simulate(built, replay, make_policy("bamel", built.config), seed=seed)
        return replace(run.figures, seconds=0.0), run.series.ready.tolist()

    assert figures(7) == figures(7)
    assert figures(7) != figures(8)
