"""Sizing from pressure: the proportional model and the convex one, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoring import Direction, PressureThresholds, assess

RESOURCES = ("cpu",)


def _assess(level: float, exponent: float | None) -> tuple[Direction | None, float]:
    thresholds = PressureThresholds(
        level_high=np.array([0.45]), level_low=np.array([0.1]),
        target_level=np.array([0.25]), rate=np.array([0.005]),
        exponent=None if exponent is None else np.array([exponent]))
    situation = assess(resources=RESOURCES, levels=np.array([level]), rates=np.array([0.0]),
                       capacity=np.array([100.0]), pending=np.array([0.0]),
                       thresholds=thresholds, horizon_seconds=120.0)
    return situation.direction, float(situation.demand[0])


def test_proportional_sizing_asks_for_level_over_target() -> None:
    assert _assess(0.45, None) == (Direction.POWER_ON, pytest.approx(80.0))
    assert _assess(0.45, 1.0) == (Direction.POWER_ON, pytest.approx(80.0))
    assert _assess(0.05, None) == (Direction.POWER_OFF, pytest.approx(80.0))


def test_convex_sizing_asks_for_the_utilisation_ratio() -> None:
    # level = u ** 6: 0.45 is u = 0.875, the target 0.25 is u = 0.794; 10.3 % more.
    assert _assess(0.45, 6.0) == (Direction.POWER_ON, pytest.approx(100 * (1.8 ** (1 / 6) - 1)))
    # 0.05 is u = 0.607: the pool can shrink to 76.5 % of its capacity.
    assert _assess(0.05, 6.0) == (Direction.POWER_OFF,
                                  pytest.approx(100 * (1 - 0.2 ** (1 / 6))))
