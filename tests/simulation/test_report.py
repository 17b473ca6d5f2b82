"""Every report shows each policy's share of the oracle's saving and its power cycles
per machine per day, and says n/a where the oracle saves nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bamel.cli import main
from controller.config.loading import dump_yaml
from simulation import make_policy, simulate
from simulation.report import markdown, to_csv, to_json, with_savings
from tests.simulation.builders import fleet, fleet_document, trace, trace_file


def test_power_cycles_per_day_divide_by_the_simulated_days(tmp_path: Path) -> None:
    # Four machines start off; demand asks for 90 % of them for two days. pending-only
    # powers each on once and never off: one cycle per machine in two days (scanning
    # every 10 minutes keeps the run short).
    built = fleet(count=4)
    replay = trace(tmp_path / "t.csv", [90] * 48, stride="1h")
    policy = make_policy("pending-only", built.config, interval=600)
    run = simulate(built, replay, policy, start_on=False)
    assert run.figures.power_cycles_per_machine == 1
    assert run.figures.power_cycles_per_machine_per_day == pytest.approx(0.5)


def test_share_of_the_oracle_is_saving_over_the_oracle_saving(tmp_path: Path) -> None:
    built = fleet(count=4)
    replay = trace(tmp_path / "t.csv", [20, 40, 80, 40] * 6, stride="15m")
    runs = [simulate(built, replay, make_policy(name, built.config))
            for name in ("always-on", "threshold")]
    figures = with_savings(runs, runs[0].figures, oracle_saved=0.4)
    always, threshold = figures
    assert always.share_of_oracle == 0
    assert threshold.saved_vs_always_on is not None
    assert threshold.share_of_oracle == pytest.approx(threshold.saved_vs_always_on / 0.4)
    table = markdown(figures, title="t", ideal_saved=0.4)
    assert "share of the oracle's saving" in table
    assert "power cycles / machine / day" in table
    assert f"| {threshold.share_of_oracle:.2f} |" in table
    row = next(csv.DictReader(io.StringIO(to_csv(figures))))
    assert row["share_of_oracle"] == "0.0"
    assert float(row["power_cycles_per_machine_per_day"]) == 0
    policies = json.loads(to_json(figures, context={}))["policies"]
    assert policies[1]["share_of_oracle"] == pytest.approx(threshold.share_of_oracle)


def test_no_share_when_the_oracle_saves_nothing(tmp_path: Path) -> None:
    built = fleet(count=2)
    replay = trace(tmp_path / "t.csv", [50, 50], stride="1h")
    runs = [simulate(built, replay, make_policy("always-on", built.config))]
    for oracle_saved in (0.0, None):
        figures = with_savings(runs, runs[0].figures, oracle_saved=oracle_saved)
        assert figures[0].share_of_oracle is None
        assert "| 0.0% | n/a |" in markdown(figures, title="t")
        assert next(csv.DictReader(io.StringIO(to_csv(figures))))["share_of_oracle"] == "n/a"
        assert json.loads(to_json(figures, context={}))["policies"][0]["share_of_oracle"] is None


def test_the_command_reports_both_figures_and_n_a_on_a_fleet_always_full(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_path = tmp_path / "fleet.yaml"
    fleet_path.write_text(dump_yaml(fleet_document(count=6)), encoding="utf-8")

    def report(cpu: list[float], *extra: str) -> str:
        path = trace_file(tmp_path / "trace.csv", cpu)
        argv = ["simulate", "--trace", str(path), "--fleet", str(fleet_path), "--stride", "60s",
                "--map", "cpu=cpu_util", "--no-progress", "--policy", "bamel",
                "--policy", "always-on", *extra]
        assert main(argv) == 0
        return capsys.readouterr().out

    answer = json.loads(report([20, 30, 60, 80, 60, 30] * 40, "--json"))
    oracle = answer["ideal_saved_vs_always_on"]
    assert oracle > 0
    for policy in answer["policies"]:
        assert policy["share_of_oracle"] == pytest.approx(policy["saved_vs_always_on"] / oracle)
        assert policy["power_cycles_per_machine_per_day"] == pytest.approx(
            policy["power_cycles_per_machine"] / answer["days"])
    # Demand equal to the whole fleet all the time: the oracle keeps every machine on.
    full = report([100] * 60, "--peak-utilisation", "1")
    assert "would save 0.0%" in full
    assert "| bamel | " in full
    assert all("| n/a |" in line for line in full.splitlines() if line.startswith("| bamel")
               or line.startswith("| always-on"))
