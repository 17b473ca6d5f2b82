"""The scorer's inputs and outputs as plain arrays, checked once at the boundary.

Arrays are float64. Capacity is (machines, resources); every per-machine array
is (machines,); every per-resource array is (resources,).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class ScoringInputError(ValueError):
    """The input cannot be scored (shape, NaN, negative): a caller bug, never retried."""


class Direction(enum.Enum):
    POWER_ON = "power-on"
    POWER_OFF = "power-off"


@dataclass(frozen=True)
class Weights:
    """Per-resource weights: ``useful`` where pressure would be relieved, else ``other``."""

    useful: FloatArray
    other: FloatArray
    slack: float = 0.25
    """Weight of the gentler side of a mismatch (see docs/scoring.md)."""
    failure_penalty: float = 0.1
    efficiency: float = 0.0
    """Weight of a machine's idle watts per unit of capacity (see docs/scoring.md)."""

    @classmethod
    def uniform(cls, resources: int, useful: float = 1.0, other: float = 0.25, *,
                slack: float = 0.25, failure_penalty: float = 0.1,
                efficiency: float = 0.0) -> Weights:
        """The same useful/other weights for every resource."""
        return cls(np.full(resources, useful), np.full(resources, other), slack, failure_penalty,
                   efficiency)


@dataclass(frozen=True)
class Candidates:
    """Machines that may be powered on (or off), with what breaks ties between them."""

    names: tuple[str, ...]
    capacity: FloatArray
    watts: FloatArray
    """Idle watts: on ties, power on the frugal one and off the hungry one."""
    boot_seconds: FloatArray
    failures: FloatArray
    """Recent failed power-ons; each adds ``Weights.failure_penalty`` to the score."""
    state_seconds: FloatArray
    """Time in the current power state; longer goes first, to level wear."""

    @classmethod
    def build(cls, names: list[str] | tuple[str, ...], capacity: object, *,
              watts: object = None, boot_seconds: object = None, failures: object = None,
              state_seconds: object = None) -> Candidates:
        """Candidates from array-likes; absent attributes default to zeros."""
        # Column-major: every operation works down a resource column.
        cap = np.asfortranarray(capacity, dtype=np.float64)
        count = len(names)

        def column(values: object) -> FloatArray:
            if values is None:
                return np.zeros(count)
            return np.asarray(values, dtype=np.float64)

        return cls(tuple(names), cap, column(watts), column(boot_seconds), column(failures),
                   column(state_seconds))

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class ScoringRequest:
    direction: Direction
    resources: tuple[str, ...]
    demand: FloatArray
    """Capacity to add (power-on) or surplus to remove (power-off), per resource."""
    useful: BoolArray
    """Resources whose pressure the action should relieve."""
    candidates: Candidates
    weights: Weights


@dataclass(frozen=True)
class CandidateScore:
    """One candidate's score, split so a person can see why it won or lost."""

    name: str
    rank: int
    total: float
    contributions: dict[str, float]
    failures: float


@dataclass(frozen=True)
class Explanation:
    """Every candidate's per-resource contributions; lower total is better."""

    direction: Direction
    resources: tuple[str, ...]
    demand: FloatArray
    applied_weights: FloatArray
    names: tuple[str, ...]
    contributions: FloatArray
    failure_terms: FloatArray
    totals: FloatArray
    candidates: Candidates = field(repr=False)

    @cached_property
    def order(self) -> NDArray[np.intp]:
        """Candidate indices, best first, ties broken by the engine's rules."""
        return rank_order(self.totals, self.candidates, self.direction)

    def ranking(self, limit: int | None = None) -> list[CandidateScore]:
        """The best ``limit`` candidates (all when None), best first."""
        chosen = self.order if limit is None else self.order[:limit]
        return [self._entry(int(index), rank) for rank, index in enumerate(chosen, start=1)]

    def of(self, name: str) -> CandidateScore:
        """The score of the candidate called name."""
        index = self.names.index(name)
        rank = int(np.flatnonzero(self.order == index)[0]) + 1
        return self._entry(index, rank)

    def _entry(self, index: int, rank: int) -> CandidateScore:
        row = self.contributions[index]
        return CandidateScore(
            name=self.names[index],
            rank=rank,
            total=float(self.totals[index]),
            contributions={r: float(v) for r, v in zip(self.resources, row, strict=True)},
            failures=float(self.failure_terms[index]),
        )


TIE_QUANTUM = 1e9
"""Totals equal after rounding to 1e-9 are ties; float noise must not pick a winner."""


def tie_key(totals: FloatArray) -> FloatArray:
    """Totals quantised so that ties are exact (same formula in the reference)."""
    return np.floor(totals * TIE_QUANTUM + 0.5)


def tie_breaks(candidates: Candidates, direction: Direction) -> tuple[FloatArray, ...]:
    """What decides between candidates whose totals tie, most significant first, lower
    first; the name decides last. The one statement of the rule: the engine's winner
    (``best``) and the explanation's ranking (``rank_order``) both read it.

    Power-on prefers lower watts, shorter boot, longer off (wear levelling); power-off
    prefers higher watts (more saved), shorter boot (quick to bring back), longer on.
    """
    watts = candidates.watts if direction is Direction.POWER_ON else -candidates.watts
    return (watts, candidates.boot_seconds, -candidates.state_seconds)


def best(totals: FloatArray, candidates: Candidates, direction: Direction) -> int:
    """The winner's index: the tied set narrowed key by key (cheaper than sorting all)."""
    keys = tie_key(totals)
    tied = np.flatnonzero(keys == keys.min())
    for values in tie_breaks(candidates, direction):
        if len(tied) == 1:
            break
        subset = values[tied]
        tied = tied[subset == subset.min()]
    return min(tied.tolist(), key=lambda index: candidates.names[index])


def rank_order(totals: FloatArray, candidates: Candidates, direction: Direction,
               subset: NDArray[np.intp] | None = None) -> NDArray[np.intp]:
    """Indices (of ``subset``, or of all) best first, ties broken as ``tie_breaks`` says."""
    index = np.arange(len(totals)) if subset is None else subset
    ties = [values[index] for values in reversed(tie_breaks(candidates, direction))]
    keys = (np.asarray(candidates.names)[index], *ties, tie_key(totals[index]))
    return index[np.lexsort(keys)]


@dataclass(frozen=True)
class Decision:
    """The chosen machine, or None with the reason nobody was chosen."""

    direction: Direction
    winner: str | None
    reason: str
    explanation: Explanation | None
