"""Backoff, the bounded buffer, and the send trigger, without a network."""

from __future__ import annotations

import random

import pytest

from agent.runner import crossed, urgent
from agent.settings import AgentConfigError, AgentSettings
from agent.stream import Backoff, SampleBuffer


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lockstep


def test_backoff_reset_starts_again_from_base() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0, rng=random.Random(1))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_backoff_jitter_spreads_a_fleet() -> None:
    firsts = {Backoff(base_s=8.0, rng=random.Random(seed)).next_delay() for seed in range(50)}
    assert max(firsts) - min(firsts) > 2.0


def test_buffer_drops_the_oldest_and_counts() -> None:
    buffer = SampleBuffer(3)
    dropped = [buffer.push(str(i)) for i in range(5)]
    assert dropped == [False, False, False, True, True]
    assert buffer.dropped == 2
    out = []
    while (frame := buffer.peek()) is not None:
        out.append(frame)
        buffer.pop()
    assert out == ["2", "3", "4"]


def test_buffer_keeps_a_frame_until_popped() -> None:
    buffer = SampleBuffer(2)
    buffer.push("a")
    assert buffer.peek() == "a"
    assert buffer.peek() == "a"
    assert len(buffer) == 1


def test_buffer_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SampleBuffer(0)


def test_crossing_a_threshold_either_way() -> None:
    thresholds = (0.5, 0.8)
    assert crossed(0.4, 0.6, thresholds)
    assert crossed(0.9, 0.7, thresholds)
    assert not crossed(0.55, 0.75, thresholds)


def test_urgent_on_crossing_or_fast_change() -> None:
    settings = AgentSettings(level_thresholds=(0.5,), rate_threshold_per_s=1.0)
    assert urgent({"cpu": 0.1}, {"cpu": 0.6}, elapsed_s=0.9, settings=settings)
    assert urgent({"cpu": 0.1}, {"cpu": 0.4}, elapsed_s=0.25, settings=settings)
    assert not urgent({"cpu": 0.1}, {"cpu": 0.2}, elapsed_s=0.5, settings=settings)
    assert not urgent({}, {"cpu": 0.9}, elapsed_s=0.5, settings=settings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"interval_s": 0}, "interval_s"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"level_thresholds": (1.5,)}, "level_thresholds"),
        ({"controller": "http://x"}, "controller"),
    ],
)
def test_settings_errors_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(AgentConfigError, match=field):
        AgentSettings(**changes).validate()  # type: ignore[arg-type]
