"""The demand forecast, its error quantile and the break-even hold, hand-computed."""

from __future__ import annotations

import json

import numpy as np

from controller.planning import forecast
from controller.planning.forecast import BUCKET, DAY, DemandHistory

NO_FALLBACK = np.zeros(1)


def history_of(demands: list[float], *, horizon: float = 60.0, quantile: float = 0.5,
               start: float = 1.0) -> tuple[DemandHistory, float]:
    """A one-resource history fed one demand a minute (a forecast at each), and the
    time of the last sample."""
    history = None
    at = start
    for number, value in enumerate(demands):
        at = start + number * BUCKET
        demand = np.array([value])
        history = forecast.observe(history, demand, at=at, horizon=horizon, window=86400.0,
                                   quantile=quantile)
        _, history = forecast.outlook(history, demand, at=at, horizon=horizon, hold=horizon,
                                      fallback=NO_FALLBACK)
    assert history is not None
    return history, at


def test_demand_is_ready_capacity_at_the_utilisation_the_level_stands_for() -> None:
    # cpu: 100 ready at level 0.064 = 0.4 ** 3; memory saturated: all 50, plus 20 pending.
    demand = forecast.observed_demand(levels=np.array([0.064, 1.0]),
                                      ready=np.array([100.0, 50.0]),
                                      pending=np.array([0.0, 20.0]),
                                      exponent=np.array([3.0, 3.0]))
    np.testing.assert_allclose(demand, [40.0, 70.0])


def test_each_error_is_the_peak_seen_over_the_horizon_less_the_forecast() -> None:
    # 10 for two minutes, then 25: the forecast made in minute 0 saw nothing of it
    # (error 0 over minutes 0-1), the one made in minute 1 missed it by 15 (minutes 1-2).
    history, _ = history_of([10.0, 10.0, 25.0, 25.0])
    assert history.errors_seen == 2
    np.testing.assert_allclose(history.errors[:2, 0], [0.0, 15.0])
    np.testing.assert_allclose(history.quantile, [7.5])  # the median of 0 and 15


def test_the_margin_is_the_quantile_of_the_errors_once_an_hour_is_known() -> None:
    # Errors of 0, except one of 30 in every 20 minutes: 5 % of them. The 0.99 quantile
    # keeps the whole burst as margin; the median keeps none.
    pattern = ([10.0] * 19 + [40.0]) * 4
    for quantile, expected in ((0.99, 30.0), (0.5, 0.0)):
        history, at = history_of(pattern, quantile=quantile)
        assert history.errors_seen >= forecast.MIN_ERRORS
        outlook, _ = forecast.outlook(history, np.array([10.0]), at=at, horizon=60.0,
                                      hold=60.0, fallback=np.array([5.0]))
        assert abs(outlook.margin[0] - expected) < 0.5


def test_a_fresh_history_keeps_the_fallback_share_of_demand_as_margin() -> None:
    history, at = history_of([10.0, 10.0, 10.0])
    outlook, _ = forecast.outlook(history, np.array([10.0]), at=at, horizon=60.0,
                                  hold=60.0, fallback=np.array([1.5]))
    np.testing.assert_allclose(outlook.margin, [15.0])
    np.testing.assert_allclose(outlook.target, [25.0])


def test_the_daily_profile_forecasts_the_rise_a_boot_ahead() -> None:
    # Yesterday demand stepped from 10 to 50 at minute 480; today, two minutes before
    # it (horizon 3 minutes), the forecast is 50 although demand is still 10.
    day = [50.0 if 480 <= minute < 600 else 10.0 for minute in range(DAY)]
    today = [10.0] * 478
    history, at = history_of(day + today, horizon=180.0)
    outlook, _ = forecast.outlook(history, np.array([10.0]), at=at, horizon=180.0,
                                  hold=180.0, fallback=NO_FALLBACK)
    np.testing.assert_allclose(outlook.forecast, [50.0])


def test_a_peak_is_kept_through_a_dip_shorter_than_the_hold() -> None:
    # An hour at 40, then 10: the keep floor stays at the peak for the hold (5 minutes)
    # and falls to the target after it.
    history, at = history_of([40.0] * 60 + [10.0] * 3)
    during, _ = forecast.outlook(history, np.array([10.0]), at=at, horizon=60.0,
                                 hold=300.0, fallback=NO_FALLBACK)
    assert during.keep[0] >= 40.0
    history, at = history_of([40.0] * 60 + [10.0] * 8)
    after, _ = forecast.outlook(history, np.array([10.0]), at=at, horizon=60.0,
                                hold=300.0, fallback=NO_FALLBACK)
    assert after.keep[0] == after.target[0] < 40.0


def test_a_history_survives_json() -> None:
    history, _ = history_of([10.0, 12.0, 25.0, 11.0])
    again = DemandHistory.from_json(json.loads(json.dumps(history.to_json())))
    for name in ("peaks", "forecasts", "errors", "quantile", "slope", "smooth", "peak"):
        np.testing.assert_array_equal(getattr(again, name), getattr(history, name))
    np.testing.assert_array_equal(again.stamps, history.stamps)
    assert (again.bucket, again.errors_seen, again.last_at) == \
        (history.bucket, history.errors_seen, history.last_at)
