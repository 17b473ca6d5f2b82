"""Reading a utilisation trace from any CSV and turning it into demand.

Traces come in many shapes: percentages or fractions of a datacenter, absolute
figures (cores, Gbit/s), rows at a fixed stride or with a timestamp. This module
reads one into a ``Trace`` of fractions in [0, 1] per resource, and scales it to a
fleet, so the rest of the simulator never sees a column name or a unit.
"""

from __future__ import annotations

import csv
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from controller.config import RESOURCES, parse_duration
from scoring.model import FloatArray


class TraceError(ValueError):
    """The trace or its mapping cannot be read; the message names the column or row."""

    retriable = False


class ValueKind(enum.Enum):
    """How a column's numbers relate to capacity."""

    PERCENT = "percent"
    """0–100 of the traced datacenter's capacity."""
    FRACTION = "fraction"
    """0–1 of the traced datacenter's capacity."""
    ABSOLUTE = "absolute"
    """Any unit (cores, bytes/s): divided by the column's peak."""


@dataclass(frozen=True)
class Trace:
    """Utilisation over time: ``times`` (rows,) seconds from the start, ``share``
    (rows, resources) fractions of the traced capacity; unmapped resources are 0."""

    times: FloatArray
    share: FloatArray
    step: float
    """Seconds the last row lasts (the stride, or the median gap between rows)."""
    warnings: tuple[str, ...] = ()
    """Columns that read but look wrong for their role (see ``counter_warning``)."""

    @property
    def duration(self) -> float:
        return float(self.times[-1] + self.step)

    def demand(self, capacity: FloatArray, peak_utilisation: float) -> FloatArray:
        """Demand (rows, resources) in capacity units.

        One factor for all resources, so the trace's balance between them is kept:
        at the trace's busiest moment, its busiest resource asks for
        ``peak_utilisation`` of the fleet.
        """
        peak = float(self.share.max())
        factor = peak_utilisation / peak if peak > 0 else 0.0
        return self.share * factor * capacity

    def cut(self, seconds: float) -> Trace:
        """The first ``seconds`` of the trace."""
        keep = max(1, int(np.searchsorted(self.times, seconds, side="left")))
        return Trace(self.times[:keep], self.share[:keep], self.step, self.warnings)


def parse_map(text: str | None) -> dict[str, str]:
    """``cpu=COL,memory=COL`` → {resource: column}."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        resource, sep, column = part.partition("=")
        resource, column = resource.strip(), column.strip()
        if not sep or not column:
            raise TraceError(f"--map: {part!r} is not RESOURCE=COLUMN")
        if resource not in RESOURCES:
            raise TraceError(f"--map: {resource!r} is not a resource ({', '.join(RESOURCES)})")
        mapping[resource] = column
    return mapping


def load_trace(path: str | Path, *, mapping: Mapping[str, str] | None = None,
               kind: ValueKind = ValueKind.PERCENT, stride: str | float | None = None,
               time_column: str | None = None) -> Trace:
    """Read the CSV at path; map columns to resources (by name when mapping is empty)."""
    header, rows = _read_rows(Path(path))
    columns = dict(mapping or {})
    if not columns:
        columns = {r: r for r in RESOURCES if r in header}
        if not columns:
            raise TraceError(f"{path}: no column is named after a resource; give --map "
                             f"(columns: {', '.join(header)})")
    for resource, column in columns.items():
        if column not in header:
            raise TraceError(f"--map {resource}={column}: no such column "
                             f"(columns: {', '.join(header)})")
    share = np.zeros((len(rows), len(RESOURCES)))
    warnings = []
    for resource, column in columns.items():
        values = _column(rows, header.index(column), column)
        share[:, RESOURCES.index(resource)] = _normalise(values, kind, column)
        warning = counter_warning(values, column)
        if warning:
            warnings.append(warning)
    times, step = _times(rows, header, stride, time_column)
    return Trace(times, share, step, tuple(warnings))


COUNTER_CORRELATION = 0.99
"""A utilisation that follows a straight line through time this closely is no load."""
COUNTER_MIN_ROWS = 100


def counter_warning(values: FloatArray, name: str) -> str | None:
    """A warning when a column climbs steadily from start to end, as a cumulative
    counter (bytes received so far) does; None for anything that looks like load.

    Such a column read as utilisation makes demand grow all trace long and puts its
    busiest moment at the end, whatever the load did. Public traces do carry such
    columns under utilisation-like names (Alibaba 2018's ``net_in``), so a warning
    beats a silent, plausible-looking report.
    """
    if len(values) < COUNTER_MIN_ROWS or float(np.ptp(values)) == 0.0:
        return None
    correlation = float(np.corrcoef(values, np.arange(len(values)))[0, 1])
    if correlation < COUNTER_CORRELATION:
        return None
    return (f"column {name} rises steadily through the trace (r = {correlation:.3f} "
            f"against time): it looks like a cumulative counter, not a utilisation; "
            f"its values are read as load all the same")


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = [row for row in reader if row]
    except OSError as error:
        raise TraceError(f"{path}: cannot read ({error.strerror})") from error
    if not header or not rows:
        raise TraceError(f"{path}: no header or no rows")
    return header, rows


def _column(rows: Sequence[list[str]], index: int, name: str) -> FloatArray:
    values = np.empty(len(rows))
    for number, row in enumerate(rows):
        try:
            values[number] = float(row[index])
        except (IndexError, ValueError):
            raise TraceError(f"row {number + 2}, column {name}: "
                             f"{row[index] if index < len(row) else 'missing'!r} "
                             f"is not a number") from None
    if not np.isfinite(values).all():
        raise TraceError(f"column {name}: not every value is finite")
    return values


def _normalise(values: FloatArray, kind: ValueKind, name: str) -> FloatArray:
    """Fractions of the traced capacity, clipped to [0, 1] (traces mark bad samples
    with values like -1 or 101)."""
    if kind is ValueKind.PERCENT:
        values = values / 100.0
    elif kind is ValueKind.ABSOLUTE:
        peak = float(values.max())
        if peak <= 0:
            raise TraceError(f"column {name}: peak is {peak:g}, cannot normalise")
        values = values / peak
    return np.clip(values, 0.0, 1.0)


def _times(rows: Sequence[list[str]], header: list[str], stride: str | float | None,
           time_column: str | None) -> tuple[FloatArray, float]:
    if time_column is None:
        if stride is None:
            raise TraceError("give --stride (seconds between rows) or --time-column")
        try:
            step = parse_duration(stride)
        except ValueError as error:
            raise TraceError(f"--stride: {error}") from None
        if step <= 0:
            raise TraceError(f"--stride: {stride!r} must be above 0")
        return np.arange(len(rows), dtype=np.float64) * step, step
    if time_column not in header:
        raise TraceError(f"--time-column {time_column}: no such column")
    index = header.index(time_column)
    stamps = np.array([_seconds(row[index], number) for number, row in enumerate(rows)])
    stamps = (stamps - stamps[0]).astype(np.float64)
    gaps = np.diff(stamps)
    if (gaps <= 0).any():
        bad = int(np.flatnonzero(gaps <= 0)[0]) + 3
        raise TraceError(f"row {bad}, column {time_column}: time does not increase")
    step = float(np.median(gaps)) if len(gaps) else 1.0
    times: FloatArray = stamps
    return times, step


def _seconds(text: str, number: int) -> float:
    """A timestamp as seconds: a number (epoch or relative) or ISO 8601."""
    try:
        value = float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.strip()).timestamp()
        except ValueError:
            raise TraceError(f"row {number + 2}: {text!r} is neither seconds nor "
                             f"ISO 8601") from None
    if not math.isfinite(value):
        raise TraceError(f"row {number + 2}: time {text!r} is not finite")
    return value
