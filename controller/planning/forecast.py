"""Forecast: the demand a pool should expect over its next boot, and the margin that
how wrong that expectation has been asks for.

Pressure bands say that a pool is short or idle, not how much capacity its load needs:
a power-off band in pressure is a band in utilisation, and a pool whose load never
falls below it keeps every machine however steady the load. So the capacity a pool
keeps ready is sized to demand instead::

    demand    d = ready * level ** (1 / exponent) + pending     (the pressure model)
    forecast  f = max(d + rising trend * H, d + the rise the daily and weekly
                  profile shows over the next H)                 H: the slowest boot
    margin    m = a quantile of past errors (the largest demand seen over H after a
                  forecast, less that forecast), at ``scoring.sizing.quantile``
    target      = f + m                  ready + arriving below it: power on
    keep        = max(target, the largest demand since the break-even time + m)
                                         ready above it by a machine: power off

Capacity ordered now is Ready one boot later, so H is the slowest boot of the pool.
The break-even time is a boot too: a machine that draws about its idle watts while
it boots spends, on a power cycle, what it would draw idling through its boot, so a
dip shorter than a boot is not worth a machine and never makes a surplus. The planner
holds a peak for that long, and at least the pool's ``minUptime`` (a machine powered
on for a peak stays that long anyway). The gap between target and keep is the
hysteresis that stops a wobble from cycling machines. Until a pool has an hour of
errors the margin is at least what the pool's ``targetLevel`` keeps above demand, so
a fresh controller packs no tighter than the pressure rule did.

History is kept in one-minute buckets (the largest demand in each), a week of them
(10,080 per pool): fine enough to measure a window of one boot, enough for a weekly
profile, and small enough to persist and to copy when a bucket closes. The clock is
the snapshot's wall clock when it has one (the live controller: a restart keeps the
rhythm) and the planner's clock otherwise (the
simulator). Pure numpy over a frozen value: the planner returns a new history, never
changes the one it was given.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from scoring.model import FloatArray

BUCKET = 60.0
"""Seconds of one history bucket: a fifth of a typical boot, so a window of one boot
is measured to within a minute."""
WEEK = 10080
"""Buckets in a week: the history's length."""
DAY = 1440
"""Buckets in a day."""
LAGS = (DAY, WEEK)
"""Seasons the profile reads: the same time yesterday and a week ago."""
SMOOTHING = 120.0
"""Seconds over which demand is averaged before it is forecast: several samples of a
30 s scan, well under a boot."""
MIN_ERRORS = 60
"""Forecast errors (an hour of buckets) before the learned margin stands alone."""
UNKNOWN = -1

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class DemandHistory:
    """One pool's demand per bucket and its forecast errors; arrays are never changed
    in place once the value is built."""

    bucket: int
    """Number of the open bucket (time // BUCKET)."""
    peak: FloatArray
    """(resources,) the largest demand seen in the open bucket."""
    opened: FloatArray
    """(resources,) the forecast made at the open bucket's first pass (NaN: none)."""
    peaks: FloatArray
    """(WEEK, resources) the largest demand of each closed bucket, at bucket % WEEK."""
    stamps: IntArray
    """(WEEK,) which bucket each row holds (UNKNOWN: none)."""
    forecasts: FloatArray
    """(WEEK, resources) the forecast made at each closed bucket's first pass."""
    errors: FloatArray
    """(window, resources) ring of forecast errors, NaN where none yet."""
    errors_seen: int
    quantile: FloatArray
    """(resources,) the error quantile, recomputed when a bucket closes (NaN: none)."""
    last_at: float
    last_demand: FloatArray
    slope: FloatArray
    """(resources,) demand change per second, smoothed over the horizon."""
    smooth: FloatArray
    """(resources,) demand smoothed over SMOOTHING: the level a forecast starts from,
    so one noisy sample neither raises the target nor widens the errors."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (NaN as null) for the controller's state store."""
        return {field.name: _jsonable(getattr(self, field.name))
                for field in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DemandHistory:
        """The inverse of ``to_json``."""
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = data[field.name]
            if field.name == "stamps":
                values[field.name] = np.array(raw, dtype=np.int64)
            elif isinstance(raw, list):
                values[field.name] = np.array(raw, dtype=np.float64)
            else:
                values[field.name] = raw
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outlook:
    """What sizing decides from, all (resources,), for the decision and its record."""

    demand: FloatArray
    forecast: FloatArray
    margin: FloatArray
    target: FloatArray
    """Ready and arriving capacity below this powers on."""
    keep: FloatArray
    """Ready capacity a power-off must leave: the target, and at least the largest
    demand since the break-even time began, plus the margin."""


def observed_demand(*, levels: FloatArray, ready: FloatArray, pending: FloatArray,
                    exponent: FloatArray | None) -> FloatArray:
    """The load on a pool now: ready capacity times the utilisation its level stands
    for (level = utilisation ** exponent), plus what waits for room. A saturated level
    says only "at least all of it"; pending requests tell the rest."""
    share = np.clip(levels, 0.0, 1.0)
    if exponent is not None:
        share = share ** (1.0 / exponent)
    demand: FloatArray = ready * share + pending
    return demand


def observe(history: DemandHistory | None, demand: FloatArray, *, at: float,
            horizon: float, window: float, quantile: float) -> DemandHistory:
    """history with demand seen at ``at``; closing a bucket scores the forecast whose
    window it ends."""
    bucket = int(at // BUCKET)
    if history is None:
        return _fresh(demand, bucket=bucket, at=at, window=window)
    if bucket > history.bucket:
        history = _close(history, bucket, horizon=horizon, quantile=quantile)
        peak = demand
    else:
        peak = np.maximum(history.peak, demand)
    dt = at - history.last_at
    slope, smooth = history.slope, history.smooth
    if dt > 0:
        alpha = dt / (dt + max(horizon, dt))
        slope = slope + alpha * ((demand - history.last_demand) / dt - slope)
        smooth = smooth + dt / (dt + SMOOTHING) * (demand - smooth)
    return dataclasses.replace(history, peak=peak, last_at=at, last_demand=demand,
                               slope=slope, smooth=smooth)


def outlook(history: DemandHistory, demand: FloatArray, *, at: float, horizon: float,
            hold: float, fallback: FloatArray) -> tuple[Outlook, DemandHistory]:
    """The forecast over the next horizon, its margin, and what to keep through a dip;
    the first forecast of a bucket is kept in the history, to be scored once its
    window has passed.

    fallback: (resources,) the share of demand to keep as margin while fewer than
    MIN_ERRORS errors are known.
    """
    level = history.smooth
    forecast = level + np.maximum(np.maximum(history.slope, 0.0) * horizon,
                                  _seasonal_rise(history, horizon))
    if np.isnan(history.opened).all():
        history = dataclasses.replace(history, opened=forecast)
    margin = np.nan_to_num(np.maximum(history.quantile, 0.0), nan=0.0)
    if history.errors_seen < MIN_ERRORS:
        margin = np.maximum(margin, demand * fallback)
    target = forecast + margin
    keep = np.maximum(target, _recent_peak(history, at - hold) + margin)
    return Outlook(demand, forecast, margin, target, keep), history


def wake_time(history: DemandHistory | None) -> float | None:
    """When the open bucket closes (a new forecast, a scored error); on the history's
    own clock."""
    return None if history is None else (history.bucket + 1) * BUCKET


def _fresh(demand: FloatArray, *, bucket: int, at: float, window: float) -> DemandHistory:
    resources = len(demand)
    slots = max(1, math.ceil(window / BUCKET))
    unknown = np.full(resources, np.nan)
    return DemandHistory(
        bucket=bucket, peak=demand, opened=unknown,
        peaks=np.full((WEEK, resources), np.nan), stamps=np.full(WEEK, UNKNOWN, np.int64),
        forecasts=np.full((WEEK, resources), np.nan),
        errors=np.full((slots, resources), np.nan), errors_seen=0, quantile=unknown,
        last_at=at, last_demand=demand, slope=np.zeros(resources), smooth=demand)


def _close(history: DemandHistory, bucket: int, *, horizon: float,
           quantile: float) -> DemandHistory:
    """history with its open bucket written, buckets skipped since forgotten, and the
    error of the forecast whose window the closed bucket ends."""
    closed = history.bucket
    peaks, stamps, forecasts = (history.peaks.copy(), history.stamps.copy(),
                                history.forecasts.copy())
    row = closed % WEEK
    peaks[row], stamps[row], forecasts[row] = history.peak, closed, history.opened
    history = dataclasses.replace(
        history, bucket=bucket, opened=np.full(len(history.peak), np.nan),
        peaks=peaks, stamps=stamps, forecasts=forecasts)
    span = _span(horizon)
    start = closed - span
    actual = _peak_over(history, start, closed)
    made = forecasts[start % WEEK]
    if actual is None or stamps[start % WEEK] != start or np.isnan(made).any():
        return history
    errors = history.errors.copy()
    errors[history.errors_seen % len(errors)] = actual - made
    known = errors[: min(history.errors_seen + 1, len(errors))]
    return dataclasses.replace(history, errors=errors, errors_seen=history.errors_seen + 1,
                               quantile=np.quantile(known, quantile, axis=0))


def _span(seconds: float) -> int:
    """Buckets after the one a window starts in that it reaches into."""
    return max(1, math.ceil(seconds / BUCKET))


def _peak_over(history: DemandHistory, first: int, last: int) -> FloatArray | None:
    """The largest demand of closed buckets first..last, None if one is unknown."""
    numbers = np.arange(first, last + 1)
    rows = numbers % WEEK
    if first < 0 or (history.stamps[rows] != numbers).any():
        return None
    peak: FloatArray = history.peaks[rows].max(axis=0)
    return peak


def _recent_peak(history: DemandHistory, since: float) -> FloatArray:
    """The largest demand over the buckets from the one holding since to the open one."""
    numbers = np.arange(int(since // BUCKET), history.bucket)
    rows = numbers % WEEK
    known = (history.stamps[rows] == numbers) & (numbers >= 0)
    if not known.any():
        return history.peak
    peak: FloatArray = np.maximum(history.peak, history.peaks[rows[known]].max(axis=0))
    return peak


def _seasonal_rise(history: DemandHistory, horizon: float) -> FloatArray:
    """How much demand rose over the next horizon a day and a week ago (the larger),
    0 where neither is known."""
    rise = np.zeros(len(history.peak))
    span = _span(horizon)
    for lag in LAGS:
        start = history.bucket - lag
        base = _peak_over(history, start, start)
        ahead = _peak_over(history, start + 1, start + span)
        if base is not None and ahead is not None:
            rise = np.maximum(rise, ahead - base)
    return rise


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        array = value.astype(object)
        if value.dtype.kind == "f":
            array[np.isnan(value)] = None
        return array.tolist()
    return value
