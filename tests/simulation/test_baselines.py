"""Each baseline keeps the rule that defines it."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from simulation import Policy, make_policy, simulate
from simulation.world import DRAINING, Decisions, Observation, World
from tests.simulation.builders import fleet, trace
from tests.simulation.test_conservation import wavy


@dataclass
class Step:
    now: float
    utilisation: float
    waiting: bool
    draining: int
    decisions: Decisions


@dataclass
class Recorder:
    """Wraps a policy and keeps what it saw and decided at every scan."""

    inner: Policy
    steps: list[Step] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def interval(self) -> float:
        return self.inner.interval

    def decide(self, world: World, observation: Observation) -> Decisions:
        decisions = self.inner.decide(world, observation)
        self.steps.append(Step(observation.now, float(observation.utilisation[0].max()),
                               observation.waiting(0), int((world.state == DRAINING).sum()),
                               decisions))
        return decisions


def replay(name: str, tmp_path: Path, *, start_on: bool = True) -> Recorder:
    built = fleet(count=16)
    recorder = Recorder(make_policy(name, built.config))
    simulate(built, trace(tmp_path / "t.csv", wavy()), recorder, seed=2, start_on=start_on)
    return recorder


def test_pending_only_never_powers_on_before_a_deficit(tmp_path: Path) -> None:
    recorder = replay("pending-only", tmp_path, start_on=False)
    ons = [s for s in recorder.steps if s.decisions.power_on]
    assert ons, "the trace must make it scale up"
    assert all(s.waiting for s in ons)
    assert recorder.interval == 10


def test_pending_only_removes_one_node_at_a_time_after_ten_minutes(tmp_path: Path) -> None:
    recorder = replay("pending-only", tmp_path)
    offs = [s for s in recorder.steps if s.decisions.power_off]
    assert offs
    assert all(len(s.decisions.power_off) == 1 and s.draining == 0 for s in offs)
    assert offs[0].now >= 600
    low = [s.now for s in recorder.steps if s.utilisation >= 0.5]
    assert all(s.utilisation < 0.5 for s in offs), low[:3]


def test_threshold_scales_up_above_70_and_down_after_sustained_30(tmp_path: Path) -> None:
    recorder = replay("threshold", tmp_path, start_on=False)
    steps = recorder.steps
    for index, step in enumerate(steps):
        if step.decisions.power_on:
            assert step.utilisation > 0.7 or step.utilisation == float("inf")
        if step.decisions.power_off:
            window = [s for s in steps[:index + 1] if s.now >= step.now - 600]
            assert all(s.utilisation < 0.3 for s in window)


def test_loadavg_acts_once_per_cooldown(tmp_path: Path) -> None:
    recorder = replay("loadavg", tmp_path, start_on=False)
    acts = [s.now for s in recorder.steps if s.decisions.power_on or s.decisions.power_off]
    assert acts
    assert all(later - earlier >= 300 for earlier, later in pairwise(acts))
    assert all(len(s.decisions.power_on) + len(s.decisions.power_off) <= 1
               for s in recorder.steps)
