"""Synthetic shapes: deterministic for a seed, each with the property that defines it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bamel.cli import main
from scoring.model import FloatArray
from simulation import load_trace, synthetic
from simulation.synthetic import DAY, SHAPES, cpu_percent, diurnal, synthetic_trace
from simulation.trace import TraceError

HOUR_ROWS = 12
"""Rows an hour at the 300 s stride these tests use to keep the series short."""


def shape(name: str, *, days: float = 14.0, seed: int = 1, noise: float = 1.0) -> FloatArray:
    return cpu_percent(name, days=days, stride=300.0, seed=seed, noise=noise)


def autocorrelation(load: FloatArray, lag: int) -> float:
    centred = load - load.mean()
    return float(np.dot(centred[:-lag], centred[lag:]) / np.dot(centred, centred))


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_seed_gives_the_same_load_and_another_seed_another(name: str) -> None:
    first, again, other = shape(name, seed=7), shape(name, seed=7), shape(name, seed=8)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert len(first) == 14 * 24 * HOUR_ROWS
    assert first.min() >= 1 and first.max() <= 100


@pytest.mark.parametrize("name", ["steady", "ramp"])
def test_noise_scales_the_shape_own_noise(name: str) -> None:
    bare, noisy, noisier = (shape(name, noise=level) for level in (0.0, 1.0, 3.0))
    assert np.ptp(np.diff(bare)) == pytest.approx(0.0, abs=1e-9)
    assert 0 < np.std(noisy - bare) < np.std(noisier - bare)


def test_steady_has_no_rhythm_and_stays_in_a_narrow_band() -> None:
    load = shape("steady")
    assert np.abs(load - 60.0).max() <= 10.0
    hourly = load.reshape(-1, HOUR_ROWS).mean(axis=1)
    assert hourly.std() < 2.0
    # Nothing repeats: a day later the load is unrelated to what it was.
    assert abs(autocorrelation(load, 24 * HOUR_ROWS)) < 0.2


def test_diurnal_repeats_every_24_hours() -> None:
    load = shape("diurnal")
    spectrum = np.abs(np.fft.rfft(load - load.mean()))
    # 14 days: the strongest frequency is 14 cycles, one a day.
    assert int(np.argmax(spectrum[1:])) + 1 == 14
    assert autocorrelation(load, 24 * HOUR_ROWS) > 0.5 > autocorrelation(load, 12 * HOUR_ROWS)


def test_bursty_has_a_heavy_tail() -> None:
    load = shape("bursty")
    median = float(np.median(load))
    assert 6.0 <= median <= 10.0
    assert np.percentile(load, 99.9) >= 5 * median
    centred = load - load.mean()
    kurtosis = float((centred ** 4).mean() / centred.var() ** 2 - 3.0)
    assert kurtosis > 10  # a normal distribution has 0; steady has about 0
    steady = shape("steady") - 60.0
    assert abs(float((steady ** 4).mean() / steady.var() ** 2 - 3.0)) < 2


def test_ramp_rises_every_day_from_20_to_80_percent() -> None:
    load = shape("ramp", days=8)
    daily = load.reshape(8, -1).mean(axis=1)
    assert (np.diff(daily) > 0).all()
    slope, start = np.polyfit(np.arange(len(load)) / len(load), load, 1)
    assert slope == pytest.approx(60.0, abs=1.0)
    assert start == pytest.approx(20.0, abs=1.0)


def test_the_diurnal_default_is_the_documented_trace() -> None:
    # The registry's diurnal is the cpu column of the CSV generator's trace.
    assert np.array_equal(shape("diurnal", days=2, seed=3),
                          diurnal(days=2, stride=300.0, seed=3)[:, 0])


def test_trace_and_bad_arguments() -> None:
    trace = synthetic_trace("ramp", days=1, stride=60.0, seed=1)
    assert trace.duration == DAY
    assert trace.share[:, 0].max() <= 1 and (trace.share[:, 1:] == 0).all()
    with pytest.raises(TraceError, match="unknown shape 'flat'"):
        cpu_percent("flat", days=1, stride=60, seed=1, noise=1)
    with pytest.raises(TraceError, match="--noise: -1 must be 0 or above"):
        cpu_percent("steady", days=1, stride=60, seed=1, noise=-1)


def test_the_command_replays_a_shape_and_is_deterministic(
        capsys: pytest.CaptureFixture[str]) -> None:
    def report(*extra: str) -> dict[str, object]:
        argv = ["simulate", "--synthetic", "bursty", "--fleet", "examples/fleet.yaml",
                "--duration", "6h", "--stride", "5m", "--policy", "pending-only",
                "--policy", "always-on", "--json", "--no-progress", *extra]
        assert main(argv) == 0
        answer: dict[str, object] = json.loads(capsys.readouterr().out)
        return answer

    first, again = report("--seed", "4"), report("--seed", "4")
    assert first["trace"] == "synthetic:bursty"
    assert first["days"] == pytest.approx(0.25)

    def without_time(answer: dict[str, object]) -> object:
        return [{k: v for k, v in p.items() if k != "seconds"}
                for p in answer["policies"]]  # type: ignore[attr-defined]

    assert without_time(first) == without_time(again)
    assert first["noise"] == 1.0
    assert report("--seed", "5")["ideal_saved_vs_always_on"] != first["ideal_saved_vs_always_on"]
    assert main(["simulate", "--synthetic", "steady", "--fleet", "examples/fleet.yaml",
                 "--noise", "-2", "--no-progress"]) == 1
    assert "synthetic:steady: --noise: -2 must be 0 or above" in capsys.readouterr().err


def test_the_csv_writer_gives_the_same_load_to_trace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bursty.csv"
    monkeypatch.setattr("sys.argv", ["synthetic", str(out), "--shape", "bursty", "--days", "1",
                                     "--stride", "300", "--seed", "2"])
    synthetic.main()
    loaded = load_trace(out, mapping={"cpu": "cpu_percent"}, stride="300s")
    assert loaded.share[:, 0] == pytest.approx(shape("bursty", days=1, seed=2) / 100, abs=1e-5)
