"""Small scenarios worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import make_policy, simulate
from simulation.world import READY, World
from tests.simulation.builders import fleet, trace


def test_always_on_energy_by_hand(tmp_path: Path) -> None:
    # Two 8-core machines, 100 W idle, 300 W busy; the trace's peak (50 %) is scaled
    # to 90 % of the fleet, so cpu runs at 0.9 for the first hour and 0.45 for the
    # second: 2 x (100 + 200 x 0.9) W for 1 h + 2 x (100 + 200 x 0.45) W for 1 h.
    built = fleet(count=2)
    replay = trace(tmp_path / "t.csv", [50, 25], stride="1h")
    run = simulate(built, replay, make_policy("always-on", built.config))
    assert run.figures.energy_kwh == pytest.approx((2 * 280 + 2 * 190) / 1000)
    assert run.figures.unmet_share == 0
    assert run.figures.mean_ready_share == 1


def test_boot_takes_its_time_and_deficit_is_counted(tmp_path: Path) -> None:
    # Four 8-core machines start off; demand is 0.9 x 32 = 28.8 cores for 10 min.
    # pending-only scans every 10 s: at t=0 it sees 28.8 cores pending and powers
    # on all four (8 cores each); they boot in exactly 2 min, so the whole demand
    # goes unmet for the first 120 s of 600 s: 20 % of demand-time.
    built = fleet(count=4)
    replay = trace(tmp_path / "t.csv", [90] * 10, stride="1m")
    run = simulate(built, replay, make_policy("pending-only", built.config), start_on=False)
    assert run.figures.unmet_share == pytest.approx(120 / 600)
    assert run.figures.deficit_time_share == pytest.approx(120 / 600)
    assert run.figures.power_cycles_per_machine == 1


def test_world_boot_failure_is_aborted_and_backed_off() -> None:
    built = fleet(count=1, shapes=[{"name": "bad", "pool": "general", "count": 1,
                                    "capacity": {"cpu": 8, "memory": "1Gi"},
                                    "failureRate": 1.0, "idleWatts": 50, "busyWatts": 60}])
    world = World(built, seed=1, start_on=False)
    world.power_on(0, 0.0)
    world.advance(10_000.0)
    assert world.state[0] != READY
    world.abort(0, 10_000.0)
    assert world.failures[0] == 1
    assert world.backoff_until[0] == 10_060.0
