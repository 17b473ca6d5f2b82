"""``bamel simulate`` as an operator runs it: report, JSON, CSV, plot, and errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bamel.cli import main
from controller.config.loading import dump_yaml
from tests.simulation.builders import fleet_document, trace_file

DAILY: list[float] = [20, 30, 60, 80, 60, 30] * 40
"""Four hours at a minute a row: load that rises and falls."""


@pytest.fixture
def fleet_path(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(dump_yaml(fleet_document(count=6)), encoding="utf-8")
    return path


def run(tmp_path: Path, fleet_path: Path, cpu: list[float], *extra: str) -> list[str]:
    trace = trace_file(tmp_path / "trace.csv", cpu)
    return ["simulate", "--trace", str(trace), "--fleet", str(fleet_path), "--stride", "60s",
            "--map", "cpu=cpu_util", "--no-progress", *extra]


def test_report_json_csv_and_plot(tmp_path: Path, fleet_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, png_path = tmp_path / "out.csv", tmp_path / "out.png"
    argv = run(tmp_path, fleet_path, DAILY, "--policy", "bamel", "--policy", "always-on",
               "--json", "--csv", str(csv_path), "--plot", str(png_path))
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["policy"] for p in report["policies"]] == ["bamel", "always-on"]
    assert report["machines"] == 6
    assert report["warnings"] == []
    bamel = report["policies"][0]
    assert 0 < bamel["saved_vs_always_on"] < 1
    assert csv_path.read_text(encoding="utf-8").splitlines()[0].startswith("policy,")
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_report_names_every_policy(tmp_path: Path, fleet_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run(tmp_path, fleet_path, DAILY)) == 0
    text = capsys.readouterr().out
    for policy in ("bamel", "always-on", "pending-only", "threshold", "loadavg"):
        assert f"| {policy} |" in text


def test_a_counter_column_is_reported(tmp_path: Path, fleet_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ramp = [10 + index * 0.25 for index in range(240)]
    assert main(run(tmp_path, fleet_path, ramp, "--policy", "bamel", "--json")) == 0
    captured = capsys.readouterr()
    assert "warning: column cpu_util rises steadily" in captured.err
    assert json.loads(captured.out)["warnings"][0].startswith("column cpu_util")


def test_bad_inputs_name_what_is_wrong(tmp_path: Path, fleet_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run(tmp_path, fleet_path, DAILY, "--map", "cpu=nope")) == 1
    assert "--map cpu=nope: no such column" in capsys.readouterr().err
    assert main(run(tmp_path, fleet_path, DAILY, "--peak-utilisation", "1.5")) == 1
    assert "--peak-utilisation" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text(dump_yaml(fleet_document(shapes=[{"name": "x", "pool": "general",
                                                        "count": -1}])), encoding="utf-8")
    argv = run(tmp_path, fleet_path, DAILY)
    argv[argv.index("--fleet") + 1] = str(broken)
    assert main(argv) == 1
    assert "shapes[0]" in capsys.readouterr().err


def test_plot_without_matplotlib_names_the_extra(tmp_path: Path, fleet_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    png_path = tmp_path / "out.png"
    assert main(run(tmp_path, fleet_path, DAILY, "--plot", str(png_path))) == 1
    captured = capsys.readouterr()
    assert "--plot needs matplotlib: install bamel-autoscaler[simulate]" in captured.err
    assert captured.out == ""
    assert not png_path.exists()
