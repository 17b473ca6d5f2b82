"""The scoring engine picks the machine closest to the ideal and says why."""

import numpy as np
import pytest

from scoring import Direction, ScoringInputError, Weights, score
from tests.scoring.helpers import request


def test_power_on_prefers_covering_without_gross_oversizing() -> None:
    # Need 4 cores: a 2-core box falls short, a 128-core box is gross oversizing.
    decision = score(request([[2, 8], [8, 16], [128, 512]], [4, 0], [True, False],
                             names=["small", "right", "huge"]))
    assert decision.winner == "right"
    assert decision.explanation is not None
    explanation = decision.explanation
    assert explanation.ranking()[0].name == "right"
    huge, right = explanation.of("huge"), explanation.of("right")
    assert huge.contributions["cpu"] > right.contributions["cpu"]
    assert explanation.of("small").contributions["cpu"] == pytest.approx(0.5)  # half uncovered


def test_memory_pressure_picks_memory_machine() -> None:
    cpu_heavy, memory_heavy = [64, 128, 10, 0], [16, 512, 10, 0]
    decision = score(request([cpu_heavy, memory_heavy], [2, 200, 0, 0],
                             [False, True, False, False], names=["cpu-heavy", "mem-heavy"]))
    assert decision.winner == "mem-heavy"
    explanation = decision.explanation
    assert explanation is not None
    loser = explanation.of("cpu-heavy")
    assert loser.contributions["memory"] > explanation.of("mem-heavy").contributions["memory"]
    assert loser.rank == 2


def test_worked_example_from_docs() -> None:
    # docs/scoring.md: demand cpu 6, memory 48 (memory useful), two machines.
    decision = score(request([[16, 64], [8, 32]], [6, 48], [False, True], names=["a", "b"]))
    assert decision.explanation is not None
    a, b = decision.explanation.of("a"), decision.explanation.of("b")
    assert a.contributions == pytest.approx({"cpu": 0.25 * 0.25 * 10 / 16,
                                             "memory": 0.25 * 16 / 64})
    assert b.contributions == pytest.approx({"cpu": 0.25 * 0.25 * 2 / 16, "memory": 16 / 48})
    assert a.total == pytest.approx(0.1016, abs=1e-4)
    assert b.total == pytest.approx(0.3411, abs=1e-4)
    assert decision.winner == "a"


def test_power_off_prefers_machine_matching_surplus() -> None:
    # Surplus of 20 cores: removing a 32-core machine eats headroom; 16 fits.
    decision = score(request([[32], [16], [4]], [20], [True], names=["big", "fit", "tiny"],
                             direction=Direction.POWER_OFF))
    assert decision.winner == "fit"


def test_ties_prefer_lower_watts_then_shorter_boot_then_longer_off_then_name() -> None:
    same = [[8, 8]] * 4
    base = request(same, [8, 8], [True, True], names=["d", "c", "b", "a"],
                   watts=[100, 50, 50, 50], boot_seconds=[10, 60, 30, 30],
                   state_seconds=[0, 0, 5, 5])
    assert score(base).winner == "a"
    longer_off = request(same, [8, 8], [True, True], names=["d", "c", "b", "a"],
                         watts=[100, 50, 50, 50], boot_seconds=[10, 60, 30, 30],
                         state_seconds=[0, 0, 9, 5])
    assert score(longer_off).winner == "b"
    ranking = score(base).explanation.ranking()  # type: ignore[union-attr]
    assert [c.name for c in ranking] == ["a", "b", "c", "d"]


def test_power_off_ties_prefer_higher_watts() -> None:
    decision = score(request([[8], [8]], [8], [True], names=["frugal", "hungry"],
                             direction=Direction.POWER_OFF, watts=[50, 200]))
    assert decision.winner == "hungry"


def test_failures_push_a_machine_down() -> None:
    decision = score(request([[8], [8]], [8], [True], names=["flaky", "steady"],
                             failures=[2, 0], watts=[10, 99]))
    assert decision.winner == "steady"
    assert decision.explanation.of("flaky").failures == pytest.approx(0.2)  # type: ignore[union-attr]


def test_empty_candidates_is_explicit() -> None:
    decision = score(request(np.zeros((0, 2)).tolist(), [1, 1], [True, True], names=[]))
    assert decision.winner is None
    assert decision.reason.startswith("no candidate")


@pytest.mark.parametrize(("capacity", "demand", "message"), [
    ([[1, float("nan")]], [1, 1], "capacity: nan"),
    ([[1, -3]], [1, 1], "capacity: -3"),
    ([[1, 2]], [1, float("inf")], "demand: infinite"),
    ([[1, 2]], [1, -1], "demand: -1"),
])
def test_bad_values_are_rejected(capacity: list[list[float]], demand: list[float],
                                 message: str) -> None:
    with pytest.raises(ScoringInputError, match=message):
        score(request(capacity, demand, [True, True]))


def test_mismatched_shapes_are_rejected() -> None:
    bad = request([[1, 2]], [1, 1], [True, True])
    object.__setattr__(bad, "demand", np.ones(3))
    with pytest.raises(ScoringInputError, match=r"demand: expected shape \(2,\)"):
        score(bad)


def test_bad_weights_are_rejected() -> None:
    with pytest.raises(ScoringInputError, match=r"weights\.slack"):
        score(request([[1, 2]], [1, 1], [True, True],
                      weights=Weights.uniform(2, slack=float("nan"))))


def test_efficiency_powers_on_cheap_capacity_and_off_costly_capacity() -> None:
    # Power-on for 6 cores: an 8-core machine at 200 W matches better (score 0.10)
    # than a 10-core one at 100 W (0.1625), but costs 2.5 times as much per unit of
    # capacity: with efficiency 0.5 they score 0.6 and 0.3625.
    capacity: list[list[float]] = [[8, 32], [10, 40]]
    with_efficiency = Weights.uniform(2, efficiency=0.5)
    assert score(request(capacity, [6, 0], [True, False], watts=[200.0, 100.0])).winner == "m0"
    assert score(request(capacity, [6, 0], [True, False], watts=[200.0, 100.0],
                         weights=with_efficiency)).winner == "m1"
    # Power-off of a 16-core surplus: the 16-core machine at 120 W is the exact match,
    # but the 8-core one at 300 W costs five times as much per unit: it goes first.
    capacity = [[8, 32], [16, 64]]
    off, watts = Direction.POWER_OFF, [300.0, 120.0]
    assert score(request(capacity, [16, 64], [True, True], direction=off,
                         watts=watts)).winner == "m1"
    assert score(request(capacity, [16, 64], [True, True], direction=off, watts=watts,
                         weights=with_efficiency)).winner == "m0"


def test_equal_watts_leave_efficiency_out() -> None:
    # Idle watts unset are the same default on every machine: they say nothing about
    # cost, so the bigger machine does not win a small request by looking cheap.
    capacity: list[list[float]] = [[8, 32], [32, 128]]
    with_efficiency = Weights.uniform(2, efficiency=2.0)
    decision = score(request(capacity, [4, 0], [True, False], watts=[100.0, 100.0],
                             weights=with_efficiency))
    assert decision.winner == "m0"
    assert decision.explanation is not None
    plain = score(request(capacity, [4, 0], [True, False], watts=[100.0, 100.0]))
    assert plain.explanation is not None
    assert decision.explanation.totals.tolist() == plain.explanation.totals.tolist()
