"""The policy table: every name builds its policy, with its own scan interval or the
one asked for, and an unknown name is refused with the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import FACTORIES, POLICIES, make_policy
from tests.simulation.builders import fleet

OWN_INTERVALS = {"bamel": 30.0, "always-on": 30.0, "pending-only": 10.0, "threshold": 30.0,
                 "loadavg": 30.0}
"""Each policy's scan interval as its original runs it (Cluster Autoscaler: 10 s)."""


def test_the_table_lists_every_policy_in_report_order() -> None:
    assert POLICIES == ("bamel", "always-on", "pending-only", "threshold", "loadavg")
    assert tuple(FACTORIES) == POLICIES


@pytest.mark.parametrize("name", POLICIES)
def test_each_name_builds_its_policy_with_its_own_interval_or_the_override(name: str) -> None:
    config = fleet().config
    policy = make_policy(name, config)
    assert policy.name == name
    assert policy.interval == OWN_INTERVALS[name]
    assert make_policy(name, config, interval=5.0).interval == 5.0
    assert make_policy(name, config).interval == OWN_INTERVALS[name]


def test_an_unknown_policy_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown policy 'karpenter' \(known: bamel, always-on"):
        make_policy("karpenter", fleet().config)
