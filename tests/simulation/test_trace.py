"""Reading traces: column maps, value kinds, time, scaling to a fleet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulation import TraceError, ValueKind, load_trace, parse_map
from tests.simulation.builders import trace_file


def test_map_parses_and_rejects_unknown_resources() -> None:
    assert parse_map("cpu=a, network=b") == {"cpu": "a", "network": "b"}
    with pytest.raises(TraceError, match="'disk' is not a resource"):
        parse_map("disk=x")
    with pytest.raises(TraceError, match="not RESOURCE=COLUMN"):
        parse_map("cpu")


def test_percent_fraction_and_absolute(tmp_path: Path) -> None:
    path = trace_file(tmp_path / "t.csv", [10, 50, 40])
    percent = load_trace(path, mapping={"cpu": "cpu_util"}, stride="30s")
    assert percent.share[:, 0].tolist() == pytest.approx([0.1, 0.5, 0.4])
    absolute = load_trace(path, mapping={"cpu": "cpu_util"}, stride=30,
                          kind=ValueKind.ABSOLUTE)
    assert absolute.share[:, 0].tolist() == pytest.approx([0.2, 1.0, 0.8])
    assert percent.times.tolist() == [0, 30, 60]
    assert percent.duration == 90


def test_bad_samples_are_clipped(tmp_path: Path) -> None:
    path = trace_file(tmp_path / "t.csv", [-1, 101, 50])
    loaded = load_trace(path, mapping={"cpu": "cpu_util"}, stride="1m")
    assert loaded.share[:, 0].tolist() == [0.0, 1.0, 0.5]


def test_time_column_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("when,load\n2024-01-01T00:00:00,1\n2024-01-01T00:05:00,3\n")
    loaded = load_trace(path, mapping={"cpu": "load"}, time_column="when",
                        kind=ValueKind.ABSOLUTE)
    assert loaded.times.tolist() == [0, 300]
    assert loaded.step == 300
    with pytest.raises(TraceError, match="no such column"):
        load_trace(path, mapping={"cpu": "nope"}, stride="30s")
    with pytest.raises(TraceError, match="--stride"):
        load_trace(path, mapping={"cpu": "load"})
    path.write_text("cpu\n1\nabc\n")
    with pytest.raises(TraceError, match="row 3, column cpu"):
        load_trace(path, stride="30s")


def test_demand_puts_the_peak_at_the_requested_share(tmp_path: Path) -> None:
    path = trace_file(tmp_path / "t.csv", [20, 40], network=[10, 20])
    loaded = load_trace(path, mapping={"cpu": "cpu_util", "network": "net_util"}, stride="30s")
    demand = loaded.demand(np.array([100.0, 1.0, 1000.0, 0.0]), 0.9)
    # One factor (0.9 / 0.4) for every resource: the balance between them is kept.
    assert demand[:, 0].tolist() == pytest.approx([45.0, 90.0])
    assert demand[:, 2].tolist() == pytest.approx([225.0, 450.0])


def test_a_steady_climb_is_flagged_as_a_counter(tmp_path: Path) -> None:
    rising = [30 + index * 0.1 + (index % 7) * 0.05 for index in range(200)]
    path = trace_file(tmp_path / "t.csv", [40.0] * 200, network=rising)
    loaded = load_trace(path, mapping={"cpu": "cpu_util", "network": "net_util"}, stride="30s")
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("column net_util rises steadily")
    assert loaded.cut(600).warnings == loaded.warnings


def test_load_that_rises_and_falls_is_not_a_counter(tmp_path: Path) -> None:
    hours = np.arange(400) / 20
    swing = 50 + 30 * np.sin(2 * np.pi * hours / 6)
    growing = swing + hours  # a trend under a swing is still load
    path = trace_file(tmp_path / "t.csv", swing.tolist(), network=growing.tolist())
    loaded = load_trace(path, mapping={"cpu": "cpu_util", "network": "net_util"}, stride="3m")
    assert loaded.warnings == ()
