"""Scoring speed: the numpy engine against the pure-Python reference, 100k x 4."""

from __future__ import annotations

import statistics
import time

import numpy as np

from benchmarks.scoring_reference import reference_totals, reference_winner
from scoring import Candidates, Direction, ScoringRequest, Weights, score

MACHINES = 100_000
RESOURCES = ("cpu", "memory", "network", "gpu")
ENGINE_RUNS = 51
REFERENCE_RUNS = 3


def build_request(machines: int = MACHINES, seed: int = 7) -> ScoringRequest:
    """A fleet of random shapes and a mixed demand, reproducible from seed."""
    rng = np.random.default_rng(seed)
    capacity = np.column_stack([
        rng.choice([8, 16, 32, 64, 128], machines),
        rng.choice([32, 64, 128, 256, 512, 1024], machines) * 2.0**30,
        rng.choice([1, 10, 25, 100], machines) * 1e9,
        rng.choice([0, 0, 0, 1, 4, 8], machines),
    ]).astype(np.float64)
    return ScoringRequest(
        direction=Direction.POWER_ON,
        resources=RESOURCES,
        demand=np.array([24.0, 200 * 2.0**30, 5e9, 0.0]),
        useful=np.array([True, True, False, False]),
        candidates=Candidates.build(
            [f"node-{i:06d}" for i in range(machines)], capacity,
            watts=rng.integers(50, 400, machines), boot_seconds=rng.integers(60, 400, machines),
            failures=rng.integers(0, 2, machines), state_seconds=rng.integers(0, 10**6, machines),
        ),
        weights=Weights.uniform(len(RESOURCES)),
    )


def _median_seconds(action: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _reference(request: ScoringRequest) -> str:
    candidates = request.candidates
    applied = np.where(request.useful, request.weights.useful, request.weights.other)
    totals = reference_totals(
        request.direction, demand=request.demand.tolist(), capacity=candidates.capacity.tolist(),
        weights=applied.tolist(), slack=request.weights.slack,
        failure_penalty=request.weights.failure_penalty, failures=candidates.failures.tolist())
    return reference_winner(request.direction, names=candidates.names, totals=totals,
                            watts=candidates.watts.tolist(),
                            boot=candidates.boot_seconds.tolist(),
                            state_seconds=candidates.state_seconds.tolist())


def run() -> list[str]:
    """Check agreement, then time both; one line."""
    request = build_request()
    decision = score(request)
    if decision.winner != _reference(request):
        raise AssertionError("engine and reference disagree on the winner")
    engine = _median_seconds(lambda: score(request), ENGINE_RUNS)
    reference = _median_seconds(lambda: _reference(request), REFERENCE_RUNS)
    return [f"scoring: {MACHINES} machines x {len(RESOURCES)} dims: median {engine * 1e3:.2f} ms, "
            f"{reference / engine:.0f} x faster than reference"]
