"""When a step of the ingest ramp counts as sustained, and what its line says."""

from __future__ import annotations

from benchmarks.ingest_bench import DelayLog, Step, _beyond_room
from wire import PressureSample


def step(delays: list[float], *, sent: int = 10_000, accepted: int = 10_000,
         agents: int = 1_000, twice: int = 0) -> Step:
    return Step(agents=agents, twice=twice, seconds=10.0, sent=sent, accepted=accepted,
                delays=delays, controller=0.5, generators=0.2, others=0.0)


def test_a_steady_delay_with_every_frame_taken_is_sustained() -> None:
    assert step([0.002] * 900).sustained


def test_losing_more_than_one_frame_in_a_hundred_is_not() -> None:
    assert not step([0.002] * 900, accepted=9_899).sustained
    assert step([0.002] * 900, accepted=9_900).sustained


def test_a_delay_that_climbs_through_the_window_is_not() -> None:
    climbing = [0.0001 * i for i in range(900)]  # 0 → 90 ms: a backlog growing
    assert step(climbing).behind
    assert not step(climbing).sustained
    assert not step([0.002] * 600 + [0.020] * 300).behind  # 18 ms: within GROWTH


def test_a_standing_backlog_is_not_sustained_though_it_does_not_grow() -> None:
    assert step([0.650] * 900).behind
    assert not step([0.090] * 900).behind


def test_a_generator_behind_its_schedule_is_called_out() -> None:
    assert step([0.001] * 9, sent=9_800).generator_limited
    assert not step([0.001] * 9, sent=9_950).generator_limited
    assert step([0.001] * 9, sent=15_000, twice=600).generator_limited


def test_the_line_names_the_load_and_the_verdict() -> None:
    line = step([0.001] * 9, agents=19_900, twice=5_100, sent=250_000, accepted=250_000).line()
    assert line.startswith("ingest:  19900 agents, 5100 of them at 2 Hz (the frames of 25000 "
                           "agents): sustained: 100.00% of 250000 frames accepted")


def test_past_the_descriptor_limit_the_ceiling_and_the_failure_are_told() -> None:
    kept = step([0.001] * 9, agents=19_900, twice=10_100, sent=300_000, accepted=300_000)
    lost = step([0.001] * 9, agents=19_900, twice=15_100, sent=350_000, accepted=300_000)
    text = _beyond_room(19_900, [kept, lost])
    assert "took the frames of 30000 agents at 50% of a core" in text
    assert text.endswith("fell behind at 35000")


def test_the_delay_log_hands_over_what_it_holds_once() -> None:
    log = DelayLog()
    sample = PressureSample(node="n", boot_id="b", macs=(), timestamp=0.0, seq=1,
                            interval=1.0, levels={}, rates={}, sources={})
    log.sampled(sample, False)
    assert len(log.take()) == 8
    assert log.take() == b""
