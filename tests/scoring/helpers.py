"""Small builders for scoring requests in tests."""

import numpy as np

from scoring import Candidates, Direction, ScoringRequest, Weights

RESOURCES = ("cpu", "memory", "network", "gpu")


def request(capacity: list[list[float]], demand: list[float], useful: list[bool], *,
            direction: Direction = Direction.POWER_ON, names: list[str] | None = None,
            weights: Weights | None = None, **attributes: list[float]) -> ScoringRequest:
    names = names or [f"m{i}" for i in range(len(capacity))]
    resources = RESOURCES[: len(demand)]
    return ScoringRequest(
        direction=direction,
        resources=resources,
        demand=np.asarray(demand, dtype=np.float64),
        useful=np.asarray(useful, dtype=bool),
        candidates=Candidates.build(names, np.asarray(capacity, dtype=np.float64).reshape(
            len(names), len(resources)), **attributes),
        weights=weights or Weights.uniform(len(resources)),
    )
