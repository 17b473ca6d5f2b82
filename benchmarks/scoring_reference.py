"""A straightforward pure-Python scorer: the same formula as scoring.engine.

It exists to measure the engine against, and to check the engine's answers: it
does each machine and resource in a plain loop, in the same floating-point order,
so both give the same totals to the bit and the same winner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scoring import Direction
from scoring.engine import NEGLIGIBLE, POWER_RESOURCES

TIE_QUANTUM = 1e9


def reference_totals(direction: Direction, *, demand: Sequence[float],
                     capacity: Sequence[Sequence[float]], weights: Sequence[float],
                     slack: float, failure_penalty: float,
                     failures: Sequence[float], efficiency: float = 0.0,
                     watts: Sequence[float] = (), resources: Sequence[str] = (),
                     useful: Sequence[bool] = ()) -> list[float]:
    """Each machine's total score; ``weights`` are the applied per-resource weights."""
    short_side, excess_side = (1.0, slack) if direction is Direction.POWER_ON else (slack, 1.0)
    small, big = [], []
    for r, need in enumerate(demand):
        ref = max(need, *(row[r] for row in capacity))
        small.append(weights[r] * short_side * (1.0 / need if need > NEGLIGIBLE else 0.0))
        big.append(-(weights[r] * excess_side * (1.0 / ref if ref > NEGLIGIBLE else 0.0)))
    totals = []
    for machine, row in enumerate(capacity):
        total = 0.0
        for r, (need, have) in enumerate(zip(demand, row, strict=True)):
            gap = need - have
            contribution = max(gap * small[r], gap * big[r])
            total = total + contribution if r else contribution
        totals.append(total + failure_penalty * failures[machine])
    if efficiency and watts and max(watts) > min(watts):
        sign = 1.0 if direction is Direction.POWER_ON else -1.0
        processors = [bool(u) and name in POWER_RESOURCES
                      for u, name in zip(useful, resources, strict=True)]
        counted = (processors if any(processors) else
                   [bool(u) for u in useful] if any(useful) else [True] * len(weights))
        weights = [w if keep else 0.0 for w, keep in zip(weights, counted, strict=True)]
        costs = reference_costs(demand=demand, capacity=capacity, weights=weights, watts=watts)
        totals = [total + sign * efficiency * cost for total, cost in zip(totals, costs,
                                                                          strict=True)]
    return totals


def reference_costs(*, demand: Sequence[float], capacity: Sequence[Sequence[float]],
                    weights: Sequence[float], watts: Sequence[float]) -> list[float]:
    """Idle watts per weighted, scaled unit of capacity, as shares of the costliest;
    ``weights`` are already zero for the resources that do not count."""
    coefficients = []
    for r, need in enumerate(demand):
        ref = max(need, *(row[r] for row in capacity))
        coefficients.append(weights[r] * (1.0 / ref if ref > NEGLIGIBLE else 0.0))
    weight_sum = 0.0
    for r, weight in enumerate(weights):
        weight_sum = weight_sum + weight if r else weight
    weight_sum = max(weight_sum, NEGLIGIBLE)
    costs = []
    for machine, row in enumerate(capacity):
        size = 0.0
        for r, have in enumerate(row):
            size = size + have * coefficients[r] if r else have * coefficients[r]
        size = size / weight_sum
        costs.append(watts[machine] / size if size > NEGLIGIBLE else math.inf)
    top = max((cost for cost in costs if math.isfinite(cost)), default=0.0)
    if top <= NEGLIGIBLE:
        return [0.0 if math.isfinite(cost) else 1.0 for cost in costs]
    return [cost / top if math.isfinite(cost) else 1.0 for cost in costs]


def reference_winner(direction: Direction, *, names: Sequence[str], totals: Sequence[float],
                     watts: Sequence[float], boot: Sequence[float],
                     state_seconds: Sequence[float]) -> str:
    """The winner with the engine's tie rules, by a plain sort."""
    sign = 1.0 if direction is Direction.POWER_ON else -1.0

    def key(i: int) -> tuple[float, float, float, float, str]:
        return (math.floor(totals[i] * TIE_QUANTUM + 0.5), sign * watts[i], boot[i],
                -state_seconds[i], names[i])

    return names[min(range(len(names)), key=key)]
