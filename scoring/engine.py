"""The scoring formula: distance of each candidate from the ideal machine.

For resource r with demand d (to add, or surplus to remove) and capacity c::

    ref      = max(d, largest candidate capacity in r)
    short    = max(d - c, 0) / d        (0 when d ≤ 1e-9)
    excess   = max(c - d, 0) / ref      (0 when ref ≤ 1e-9)
    penalty  = short + slack * excess   (power-on: too small is the costly side)
    penalty  = slack * short + excess   (power-off: removing too much is costly)
    contrib  = weight(r) * penalty      (useful weight, else other weight)
    size     = sum over counted r of weight(r) * c / ref, over their weights
               (counted: useful processors (cpu, gpu), else the useful resources)
    cost     = idle watts / size, as a share of the costliest candidate's
    total    = sum over r of contrib + failure_penalty * failures
               + efficiency * cost      (power-on: cheap capacity first)
               - efficiency * cost      (power-off: costly capacity first)

The lowest total wins; docs/scoring.md has the reasoning and a worked example.
"""

from __future__ import annotations

import numpy as np

from scoring.model import (
    BoolArray,
    Decision,
    Direction,
    Explanation,
    FloatArray,
    ScoringInputError,
    ScoringRequest,
    best,
)

NEGLIGIBLE = 1e-9
"""Demand or capacity below this (a nano-core, a nano-byte) counts as none: it keeps
the reciprocals finite for any finite input."""


def score(request: ScoringRequest) -> Decision:
    """Rank the candidates of request and return the winner with an explanation."""
    validate(request)
    if len(request.candidates) == 0:
        return Decision(request.direction, None, "no candidate: none offered", None)
    applied = np.where(request.useful, request.weights.useful, request.weights.other)
    contributions = weighted_penalties(request, applied)
    failure_terms = request.weights.failure_penalty * request.candidates.failures
    totals = _sum_columns(contributions) + failure_terms
    if request.weights.efficiency and np.ptp(request.candidates.watts) > 0:
        # Equal watts everywhere (as when none are configured) say nothing of cost.
        cost = relative_cost(request, applied)
        sign = 1.0 if request.direction is Direction.POWER_ON else -1.0
        totals = totals + sign * request.weights.efficiency * cost
    winner = best(totals, request.candidates, request.direction)
    explanation = Explanation(
        direction=request.direction,
        resources=request.resources,
        demand=request.demand,
        applied_weights=applied,
        names=request.candidates.names,
        contributions=contributions,
        failure_terms=failure_terms,
        totals=totals,
        candidates=request.candidates,
    )
    name = request.candidates.names[winner]
    reason = f"{name} is closest to the ideal (score {totals[winner]:.4f}, lower is better)"
    return Decision(request.direction, name, reason, explanation)


def coefficients(request: ScoringRequest, applied: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-resource factors on the gap g = d - c, for a machine too small and too big.

    ``weight * short`` is ``g * weight * side / d`` when g > 0, and ``weight * excess``
    is ``g * -(weight * side / ref)`` when g < 0; one side is always ≤ 0, so the
    contribution is ``max(g * small, g * big)``: four vector operations in all.
    """
    demand = request.demand
    slack = request.weights.slack
    on = request.direction is Direction.POWER_ON
    short_side, excess_side = (1.0, slack) if on else (slack, 1.0)
    inverse_demand = np.divide(1.0, demand, out=np.zeros_like(demand), where=demand > NEGLIGIBLE)
    inverse_ref = _inverse_ref(request)
    small = applied * short_side * inverse_demand
    big = -(applied * excess_side * inverse_ref)
    return small, big


POWER_RESOURCES = ("cpu", "gpu")
"""What a machine's idle watts buy: processors draw the power (SPECpower measures
work per watt of cpu), while memory and network capacity come with the box."""


def counted_resources(resources: tuple[str, ...], useful: BoolArray) -> BoolArray:
    """The resources a machine's cost is counted in: the processors among the useful
    ones; else the useful ones (memory pressure buys memory); else every resource."""
    processors = np.array([r in POWER_RESOURCES for r in resources], dtype=bool)
    for mask in (useful & processors, useful):
        if mask.any():
            return mask
    return np.ones(len(resources), dtype=bool)


def relative_cost(request: ScoringRequest, applied: FloatArray) -> FloatArray:
    """Each candidate's idle watts per unit of processor capacity, as a share of the
    costliest candidate's.

    Capacity is that of ``counted_resources``, each on the penalties' scale (over
    ``ref``) and by its weight, so a resource the decision ignores does not make a
    machine look cheap. A machine with none costs the most.
    """
    weights = np.where(counted_resources(request.resources, request.useful), applied, 0.0)
    inverse_ref = _inverse_ref(request)
    scaled = request.candidates.capacity * (weights * inverse_ref)
    size = _sum_columns(scaled) / max(float(_sum_columns(weights[np.newaxis, :])[0]), NEGLIGIBLE)
    watts = request.candidates.watts
    cost = np.divide(watts, size, out=np.full_like(watts, np.inf), where=size > NEGLIGIBLE)
    finite = cost[np.isfinite(cost)]
    top = float(finite.max()) if len(finite) else 0.0
    if top <= NEGLIGIBLE:
        return np.where(np.isfinite(cost), 0.0, 1.0)
    shares: FloatArray = np.where(np.isfinite(cost), cost / top, 1.0)
    return shares


def _inverse_ref(request: ScoringRequest) -> FloatArray:
    """1 / ref per resource, ref = max(demand, largest candidate): the fleet's scale."""
    ref = np.maximum(request.demand, request.candidates.capacity.max(axis=0))
    inverse: FloatArray = np.divide(1.0, ref, out=np.zeros_like(ref), where=ref > NEGLIGIBLE)
    return inverse


def weighted_penalties(request: ScoringRequest, applied: FloatArray) -> FloatArray:
    """Each candidate's contribution per resource, (machines, resources), column-major."""
    small, big = coefficients(request, applied)
    gap = np.subtract(request.demand, request.candidates.capacity, order="F")
    too_small = gap * small
    gap *= big
    np.maximum(too_small, gap, out=gap)
    return gap


def _sum_columns(values: FloatArray) -> FloatArray:
    """Row sums added left to right, so the pure-Python reference agrees to the bit."""
    total = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        total += values[:, column]
    return total


def validate(request: ScoringRequest) -> None:
    """Raise ScoringInputError naming the first bad array; cheap enough for every call."""
    resources = len(request.resources)
    candidates = request.candidates
    count = len(candidates.names)
    _check("demand", request.demand, (resources,))
    _check("weights.useful", request.weights.useful, (resources,))
    _check("weights.other", request.weights.other, (resources,))
    _check("capacity", candidates.capacity, (count, resources))
    for name in ("watts", "boot_seconds", "failures", "state_seconds"):
        _check(name, getattr(candidates, name), (count,))
    useful = np.asarray(request.useful)
    if useful.shape != (resources,) or useful.dtype != np.bool_:
        raise ScoringInputError(f"useful: expected {resources} booleans, got {useful.shape} "
                                f"of {useful.dtype}")
    for name in ("slack", "failure_penalty"):
        value = getattr(request.weights, name)
        if not np.isfinite(value) or value < 0:
            raise ScoringInputError(f"weights.{name}: {value} is not a finite number ≥ 0")


def _check(name: str, values: FloatArray, shape: tuple[int, ...]) -> None:
    if not isinstance(values, np.ndarray) or values.shape != shape:
        got = getattr(values, "shape", type(values).__name__)
        raise ScoringInputError(f"{name}: expected shape {shape}, got {got}")
    if values.size == 0:
        return
    if not (values >= 0).all():
        bad = values[~(values >= 0)].flat[0]
        raise ScoringInputError(f"{name}: {bad} is negative or not a number")
    if not np.isfinite(values.max()):
        raise ScoringInputError(f"{name}: infinite value")
