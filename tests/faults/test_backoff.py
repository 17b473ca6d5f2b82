"""The one backoff rule: exact delays, a ceiling, and jitter from an injected random."""

from __future__ import annotations

import random

import pytest

from agent.stream import Backoff as StreamBackoff
from controller.planning.eligibility import BACKOFF_CEILING, backoff_seconds
from faults import Backoff, equal_jitter, exponential


class Draws(random.Random):
    """A random source that returns the given draws in order."""

    def __init__(self, *draws: float) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


def test_exponential_doubles_from_base_up_to_the_ceiling() -> None:
    delays = [exponential(attempt, base=0.5, ceiling=30.0) for attempt in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert exponential(3, base=1.0, ceiling=100.0, factor=3.0) == 27.0


def test_exponential_stays_at_the_ceiling_past_float_range() -> None:
    assert exponential(5000, base=60.0, ceiling=3600.0) == 3600.0
    with pytest.raises(ValueError, match="attempt"):
        exponential(-1, base=1.0, ceiling=2.0)


def test_equal_jitter_keeps_half_and_scales_the_other_half() -> None:
    assert equal_jitter(8.0, 0.0) == 4.0
    assert equal_jitter(8.0, 0.25) == 5.0
    assert equal_jitter(8.0, 0.999) < 8.0


def test_backoff_without_jitter_is_exact_and_resets() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_draws_from_the_injected_random() -> None:
    backoff = Backoff(base_s=1.0, cap_s=4.0, jitter=True, rng=Draws(0.0, 0.5, 0.75))
    assert backoff.next_delay() == 0.5  # ceiling 1: half fixed, no random half
    assert backoff.next_delay() == 1.5  # ceiling 2: 1 + 0.5 × 1
    assert backoff.next_delay() == 3.5  # ceiling 4: 2 + 2 × 0.75


def test_the_same_seed_gives_the_same_delays() -> None:
    first = StreamBackoff(rng=random.Random(42))
    second = StreamBackoff(rng=random.Random(42))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


def test_the_stream_backoff_keeps_its_former_numbers() -> None:
    """Equal jitter as the stream computed it before the rule was shared."""
    backoff = StreamBackoff(base_s=0.5, cap_s=30.0, rng=random.Random(7))
    reference = random.Random(7)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2.0**attempt)
        assert backoff.next_delay() == ceiling / 2 + reference.uniform(0.0, ceiling / 2)


def test_the_planner_backoff_keeps_its_former_numbers() -> None:
    """The simulator's figures depend on these staying bit-for-bit the same."""
    for failures in range(0, 64):
        former = float(min(3600.0, 60.0 * 2.0 ** max(failures - 1, 0)))
        assert backoff_seconds(failures) == former
    assert backoff_seconds(10_000) == BACKOFF_CEILING
