"""Properties the scorer keeps for any input (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import Direction, Weights, score
from tests.scoring.helpers import request

values = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)
RESOURCE_COUNT = 3


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    count = draw(st.integers(min_value=1, max_value=8))
    capacity = [[draw(values) for _ in range(RESOURCE_COUNT)] for _ in range(count)]
    return {
        "capacity": capacity,
        "demand": [draw(values) for _ in range(RESOURCE_COUNT)],
        "useful": [draw(st.booleans()) for _ in range(RESOURCE_COUNT)],
        "direction": draw(st.sampled_from(list(Direction))),
        "names": [f"m{i}" for i in range(count)],
        "watts": [draw(values) for _ in range(count)],
        "failures": [float(draw(st.integers(0, 3))) for _ in range(count)],
        "efficiency": draw(st.sampled_from([0.0, 0.5, 2.0])),
    }


def _decide(case: dict, order: list[int] | None = None) -> str | None:
    order = order if order is not None else list(range(len(case["names"])))
    return score(request(
        [case["capacity"][i] for i in order], case["demand"], case["useful"],
        direction=case["direction"], names=[case["names"][i] for i in order],
        weights=Weights.uniform(RESOURCE_COUNT, efficiency=case["efficiency"]),
        watts=[case["watts"][i] for i in order], failures=[case["failures"][i] for i in order],
    )).winner


@settings(max_examples=200, deadline=None)
@given(case=scenarios(), data=st.data())
def test_order_of_candidates_never_changes_the_winner(case: dict, data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(case["names"]))))
    assert _decide(case, list(order)) == _decide(case)


@settings(max_examples=100, deadline=None)
@given(case=scenarios())
def test_same_input_same_answer(case: dict) -> None:
    assert _decide(case) == _decide(case)


@settings(max_examples=200, deadline=None)
@given(case=scenarios(), resource=st.integers(0, RESOURCE_COUNT - 1),
       machine=st.integers(0, 7), extra=st.floats(min_value=0, max_value=1))
def test_more_useful_capacity_never_scores_worse_below_demand(
        case: dict, resource: int, machine: int, extra: float) -> None:
    machine %= len(case["names"])
    case["useful"][resource] = True
    demand = case["demand"][resource]
    low = case["capacity"][machine][resource] = min(case["capacity"][machine][resource], demand)
    before = score(request(case["capacity"], case["demand"], case["useful"],
                           direction=case["direction"]))
    case["capacity"][machine][resource] = low + (demand - low) * extra
    after = score(request(case["capacity"], case["demand"], case["useful"],
                          direction=case["direction"]))
    assert before.explanation is not None and after.explanation is not None
    assert after.explanation.totals[machine] <= before.explanation.totals[machine]


@settings(max_examples=200, deadline=None)
@given(case=scenarios(), resource=st.integers(0, RESOURCE_COUNT - 1), data=st.data())
def test_useful_weight_zero_makes_a_resource_irrelevant(
        case: dict, resource: int, data: st.DataObject) -> None:
    case["useful"][resource] = True
    weights = Weights(useful=np.ones(RESOURCE_COUNT), other=np.full(RESOURCE_COUNT, 0.25),
                      efficiency=case["efficiency"])
    weights.useful[resource] = 0.0
    first = score(request(case["capacity"], case["demand"], case["useful"],
                          direction=case["direction"], weights=weights))
    for row in case["capacity"]:
        row[resource] = data.draw(values)
    case["demand"][resource] = data.draw(values)
    second = score(request(case["capacity"], case["demand"], case["useful"],
                           direction=case["direction"], weights=weights))
    assert first.explanation is not None and second.explanation is not None
    assert np.array_equal(first.explanation.totals, second.explanation.totals)


@settings(max_examples=200, deadline=None)
@given(case=scenarios())
def test_engine_agrees_exactly_with_the_pure_python_reference(case: dict) -> None:
    from benchmarks.scoring_reference import reference_totals, reference_winner

    req = request(case["capacity"], case["demand"], case["useful"], direction=case["direction"],
                  names=case["names"], watts=case["watts"], failures=case["failures"],
                  weights=Weights.uniform(RESOURCE_COUNT, efficiency=case["efficiency"]))
    decision = score(req)
    applied = np.where(req.useful, req.weights.useful, req.weights.other).tolist()
    totals = reference_totals(req.direction, demand=case["demand"], capacity=case["capacity"],
                              weights=applied, slack=req.weights.slack,
                              failure_penalty=req.weights.failure_penalty,
                              failures=case["failures"], efficiency=case["efficiency"],
                              watts=case["watts"], resources=req.resources,
                              useful=case["useful"])
    assert decision.explanation is not None
    assert decision.explanation.totals.tolist() == totals
    zeros = [0.0] * len(case["names"])
    assert decision.winner == reference_winner(req.direction, names=case["names"], totals=totals,
                                               watts=case["watts"], boot=zeros,
                                               state_seconds=zeros)


@settings(max_examples=300, deadline=None)
@given(count=st.integers(min_value=1, max_value=8), data=st.data())
def test_the_explanation_ranks_the_winner_first_whatever_ties(
        count: int, data: st.DataObject) -> None:
    few = st.sampled_from([0.0, 1.0, 2.0])  # few values: equal totals and equal tie-breaks
    names = data.draw(st.permutations([f"m{i}" for i in range(count)]))
    decision = score(request(
        [[data.draw(few) for _ in range(RESOURCE_COUNT)] for _ in range(count)],
        [data.draw(few) for _ in range(RESOURCE_COUNT)], [True] * RESOURCE_COUNT,
        direction=data.draw(st.sampled_from(list(Direction))), names=list(names),
        watts=[data.draw(few) for _ in range(count)],
        boot_seconds=[data.draw(few) for _ in range(count)],
        state_seconds=[data.draw(few) for _ in range(count)]))
    assert decision.explanation is not None
    assert decision.explanation.ranking(1)[0].name == decision.winner
    assert decision.explanation.of(decision.winner or "").rank == 1
