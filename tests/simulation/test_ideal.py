"""The oracle's energy, worked out by hand on small fleets."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import make_policy, simulate
from simulation.ideal import ideal
from tests.simulation.builders import fleet, trace

SHAPE = {"pool": "general", "capacity": {"cpu": 8, "memory": "32Gi", "network": "10G"},
         "bootTime": {"min": "2m", "max": "2m"}}


def test_the_oracle_keeps_just_enough_of_the_cheapest_machines(tmp_path: Path) -> None:
    # Two 8-core machines: "lean" idles at 50 W, "hungry" at 150 W; both 250 W busy,
    # off at 5 W. Demand is 4 cores (a quarter of the fleet) for an hour: the oracle
    # keeps lean on at half load (50 + 200 * 0.5 = 150 W) and hungry off (5 W).
    built = fleet(shapes=[{**SHAPE, "name": "lean", "count": 1, "idleWatts": 50,
                           "busyWatts": 250, "offWatts": 5},
                          {**SHAPE, "name": "hungry", "count": 1, "idleWatts": 150,
                           "busyWatts": 250, "offWatts": 5}])
    replay = trace(tmp_path / "t.csv", [25.0] * 60)
    result = ideal(built, replay, peak_utilisation=0.25)
    assert result.energy_kwh == pytest.approx(0.155)
    # Always on: both idle (200 W) plus 200 W * 0.25 and 100 W * 0.25 of busy power.
    assert result.always_on_kwh == pytest.approx(0.275)
    assert result.saved == pytest.approx(1 - 0.155 / 0.275)


def test_always_on_agrees_with_the_simulator_and_no_policy_beats_the_oracle(
        tmp_path: Path) -> None:
    built = fleet(count=6)
    replay = trace(tmp_path / "t.csv", [20, 35, 60, 80, 55, 30] * 20)
    oracle = ideal(built, replay, peak_utilisation=0.9)
    always = simulate(built, replay, make_policy("always-on", built.config))
    assert oracle.always_on_kwh == pytest.approx(always.figures.energy_kwh)
    for name in ("bamel", "pending-only", "threshold", "loadavg"):
        run = simulate(built, replay, make_policy(name, built.config))
        assert run.figures.energy_kwh >= oracle.energy_kwh
