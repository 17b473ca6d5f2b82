"""From pressure levels, rates and pending requests to a direction and a demand.

The capacity a pool needs in resource r is sized so the pressure level would sit
at the target level, taking the level as utilisation ** exponent (utilisation is
load over capacity, so the load is capacity * level ** (1 / exponent))::

    projected = clip(level + rate * horizon, 0, 1)   (horizon: the boot time)
    needed    = capacity * (projected / target) ** (1 / exponent)
    delta     = needed - capacity + pending requests

With exponent 1, pressure scales inversely with capacity.

Rising pressure (projected at or above levelHigh, and not falling) or pending pods
ask for power-on; pressure low everywhere and nothing rising offers power-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.model import BoolArray, Direction, FloatArray, ScoringInputError


@dataclass(frozen=True)
class PressureThresholds:
    """Per-resource thresholds, arrays of shape (resources,)."""

    level_high: FloatArray
    level_low: FloatArray
    target_level: FloatArray
    rate: FloatArray
    exponent: FloatArray | None = None
    """Level ≈ utilisation ** exponent; None means 1 for every resource."""


@dataclass(frozen=True)
class Situation:
    """What a pool needs now: a direction (or None to hold), demand and useful mask."""

    direction: Direction | None
    demand: FloatArray
    useful: BoolArray
    reason: str


def assess(*, resources: tuple[str, ...], levels: FloatArray, rates: FloatArray,
           capacity: FloatArray, pending: FloatArray, thresholds: PressureThresholds,
           horizon_seconds: float) -> Situation:
    """Classify a pool's pressure; every array is (resources,)."""
    for name, values in (("levels", levels), ("rates", rates), ("capacity", capacity),
                         ("pending", pending)):
        if np.shape(values) != (len(resources),) or not np.isfinite(values).all():
            raise ScoringInputError(f"{name}: expected {len(resources)} finite values")
    projected = np.clip(levels + rates * horizon_seconds, 0.0, 1.0)
    rising = rates > thresholds.rate
    falling = rates < -thresholds.rate
    ratio = projected / thresholds.target_level
    if thresholds.exponent is not None:
        ratio = ratio ** (1.0 / thresholds.exponent)
    delta = capacity * ratio - capacity
    pressured = (projected >= thresholds.level_high) & ~falling
    waiting = pending > 0
    if (pressured | waiting).any():
        demand = np.where(pressured, np.maximum(delta, 0.0), 0.0) + pending
        useful = pressured | waiting
        return Situation(Direction.POWER_ON, demand, useful,
                         _describe("pressure rising", resources, pressured, waiting))
    relaxed = (projected <= thresholds.level_low) & ~rising
    surplus = np.where(relaxed, np.maximum(-delta, 0.0), 0.0)
    if surplus.any() and not rising.any() and (projected < thresholds.level_high).all():
        return Situation(Direction.POWER_OFF, surplus, relaxed,
                         _describe("pressure falling", resources, relaxed, None))
    return Situation(None, np.zeros(len(resources)), np.zeros(len(resources), dtype=bool),
                     "pressure within thresholds")


def _describe(what: str, resources: tuple[str, ...], mask: BoolArray,
              waiting: BoolArray | None) -> str:
    named = [r for r, hit in zip(resources, mask, strict=True) if hit]
    text = f"{what} in {', '.join(named)}" if named else ""
    if waiting is not None and waiting.any():
        pods = [r for r, hit in zip(resources, waiting, strict=True) if hit]
        text = (text + "; " if text else "") + f"pending pods request {', '.join(pods)}"
    return text
