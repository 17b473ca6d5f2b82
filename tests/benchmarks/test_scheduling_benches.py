"""The estimate and scale-down benchmarks run end to end at a small size."""

from __future__ import annotations

import random

from benchmarks import estimate_bench, scaledown_bench
from benchmarks.__main__ import BENCHMARKS
from benchmarks.scheduling_fleet import cluster


def test_the_estimate_benchmark_packs_its_pods() -> None:
    timing, estimate = estimate_bench.measure(100, 60, runs=1)
    assert timing.p50 == timing.first > 0
    line = estimate_bench.lines(timing, estimate, pods=100, machines=60)[0]
    assert line == ("estimate: 100 pending pods onto 60 off machines: "
                    f"p50 {timing.p50 * 1e3:.1f} ms")
    placed = sum(len(pods) for pods in estimate.placements.values())
    assert estimate.machines and placed
    assert placed + len(estimate.unplaceable) + len(estimate.ignored) == 100
    assert estimate.unplaceable, "the fleet has pods too big for any machine"


def test_the_scale_down_benchmark_checks_every_node() -> None:
    timing, verdicts = scaledown_bench.measure(40, 1200, runs=1)
    assert timing.p50 == timing.first > 0
    assert len(verdicts) == 40
    line = scaledown_bench.lines(timing, verdicts, nodes=40, pods=1200)[0]
    assert line == ("scale-down: 40 nodes x 1200 pods, every node checked: "
                    f"p50 {timing.p50 * 1e3:.0f} ms")
    kinds = {scaledown_bench.kind_of(v) for v in verdicts.values()}
    assert "removable" in kinds and len(kinds) > 1


def test_the_cluster_holds_the_pods_asked_for() -> None:
    states, budgets = cluster(50, 1500, random.Random(3))
    assert sum(len(s.pods) for s in states) == 1500
    assert budgets


def test_both_are_registered() -> None:
    assert BENCHMARKS["estimate"] == "benchmarks.estimate_bench"
    assert BENCHMARKS["scaledown"] == "benchmarks.scaledown_bench"
