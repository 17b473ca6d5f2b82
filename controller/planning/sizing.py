"""Sizing: power on while ready and arriving capacity fall short of the target, power
off while ready capacity exceeds it, on every resource the pool has.

The target is the forecast demand over the next boot plus its learned margin
(``forecast``). Pressure still triggers: a level at ``levelHigh`` that is rising faster
than ``rate``, or pending pods, power on as before (``estimate.situation_of``), and
the larger of the two needs is asked for. A high level that holds still is load the
target already sizes for: asking for the band's headroom there would pack no tighter
than the band did. Pressure no longer holds power-off back: the ``levelLow`` band is a band in
utilisation, and load that never falls below it kept every machine on. Power-off
waits while machines join, pods wait, a resource is unheard from, or pressure rises:
each says the forecast is about to be wrong.
"""

from __future__ import annotations

import numpy as np

from controller.config import RESOURCES
from controller.planning.estimate import PoolTotals, situation_of
from controller.planning.forecast import Outlook
from controller.planning.snapshot import PoolSignal, zeros
from scoring import Direction, PressureThresholds, Situation


def situation(signal: PoolSignal, totals: PoolTotals, thresholds: PressureThresholds, *,
              horizon: float, outlook: Outlook) -> Situation:
    """The pool's situation: pressure's power-on and sizing's gap together, or
    sizing's surplus, or hold; the reason states the figures."""
    pressure = situation_of(signal, totals, thresholds, horizon)
    gap = np.maximum(outlook.target - totals.ready - totals.arriving, 0.0)
    short = gap > 0
    figures = describe(outlook, totals)
    urgent = (signal.rates > thresholds.rate) | (signal.pending > 0)
    if pressure.direction is Direction.POWER_ON and (pressure.useful & urgent).any():
        asked = np.where(urgent, pressure.demand, 0.0)
        return Situation(Direction.POWER_ON, np.maximum(asked, gap),
                         (pressure.useful & urgent) | short, f"{pressure.reason}; {figures}")
    if short.any():
        return Situation(Direction.POWER_ON, gap, short, f"ready below target: {figures}")
    return _surplus(signal, totals, thresholds, outlook, figures)


def _surplus(signal: PoolSignal, totals: PoolTotals, thresholds: PressureThresholds,
             outlook: Outlook, figures: str) -> Situation:
    """Power off the capacity ready beyond the target, when nothing says it is about
    to be needed."""
    waiting = _waits(signal, totals, thresholds)
    if waiting:
        return _hold(f"ready within target: {figures}; {waiting}")
    present = totals.ready > 0
    surplus = np.where(present, totals.ready - outlook.keep, 0.0)
    if not present.any() or (surplus[present] <= 0).any():
        return _hold(f"ready within target: {figures}")
    return Situation(Direction.POWER_OFF, surplus, present, f"ready above target: {figures}")


def _waits(signal: PoolSignal, totals: PoolTotals, thresholds: PressureThresholds) -> str:
    """Why no power-off is weighed now ("" when nothing stands in the way)."""
    if totals.arriving.any():
        return "machines are still joining"
    if signal.pending.any():
        return "pods are pending"
    if signal.unheard is not None and signal.unheard.any():
        return "unheard from: unknown is not idle"
    if (signal.rates > thresholds.rate).any():
        return "pressure rising"
    return ""


def describe(outlook: Outlook, totals: PoolTotals) -> str:
    """Demand, forecast, margin, target and capacity of each resource in play."""
    parts = []
    for index, resource in enumerate(RESOURCES):
        if outlook.target[index] <= 0:
            continue
        text = (f"{resource} demand {outlook.demand[index]:.4g}, forecast "
                f"{outlook.forecast[index]:.4g}, margin {outlook.margin[index]:.4g}, target "
                f"{outlook.target[index]:.4g}, keep {outlook.keep[index]:.4g}, ready "
                f"{totals.ready[index]:.4g}")
        if totals.arriving[index] > 0:
            text += f", arriving {totals.arriving[index]:.4g}"
        parts.append(text)
    return "; ".join(parts) or "no demand"


def _hold(reason: str) -> Situation:
    return Situation(None, zeros(len(RESOURCES)), np.zeros(len(RESOURCES), dtype=bool), reason)
