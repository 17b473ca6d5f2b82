"""The bamel policy (the real planner) in small worlds worked out by hand."""

from __future__ import annotations

from pathlib import Path

from simulation import make_policy, simulate
from tests.simulation.builders import fleet, trace


def test_a_steady_load_between_the_thresholds_keeps_every_machine(tmp_path: Path) -> None:
    # Ten 8-core machines under a flat load at 80 % of the fleet: cpu pressure
    # 0.8 ** 6 = 0.26 sits between the schema's levelLow (0.2) and levelHigh (0.6),
    # and memory (not in the trace) has none. Memory being relaxed is no surplus:
    # a machine powered off takes its cpu too, so nothing is powered off.
    built = fleet(count=10)
    replay = trace(tmp_path / "t.csv", [50.0] * 180)
    run = simulate(built, replay, make_policy("bamel", built.config), peak_utilisation=0.8)
    assert run.figures.decisions == 0
    assert run.figures.unmet_share == 0
    assert run.figures.mean_ready_share == 1


def test_a_light_load_gives_machines_back_until_pressure_leaves_the_low_band(
        tmp_path: Path) -> None:
    # The same fleet at 40 %: 32 cores of demand. Machines go while cpu pressure is at
    # or below levelLow 0.2: on 6 machines it is (32 / 48) ** 6 = 0.09, so a sixth
    # goes too; on 5 it is (32 / 40) ** 6 = 0.26, between the thresholds, and the
    # pool holds there with no deficit.
    built = fleet(count=10)
    replay = trace(tmp_path / "t.csv", [50.0] * 180)
    run = simulate(built, replay, make_policy("bamel", built.config), peak_utilisation=0.4)
    assert run.figures.unmet_share == 0
    assert run.series.ready[-1] == 0.5
    assert run.figures.power_cycles_per_machine == 0
