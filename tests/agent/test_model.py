"""The level and rate math on recorded counter sequences."""

from __future__ import annotations

import math

import pytest

from agent.model import (
    ModelSettings,
    PressureModel,
    Reading,
    SmoothedRate,
    counter_delta,
    level_between,
)

SETTINGS = ModelSettings(link_bits_per_s=8e6, rate_time_constant_s=2.0)


def cpu(at: float, stall_s: float, *, source: str = "ebpf", cpus: float = 2.0) -> Reading:
    return Reading(source, at, {"stall_ns": stall_s * 1e9}, parallelism=cpus)


def test_counter_delta_handles_reset() -> None:
    assert counter_delta(100, 150) == 50
    assert counter_delta(150, 40) == 40  # restarted from zero, then counted 40


def test_cpu_level_is_wait_per_cpu_second() -> None:
    assert level_between("cpu", cpu(0, 0), cpu(1, 1.0), SETTINGS) == pytest.approx(0.5)
    assert level_between("cpu", cpu(0, 0), cpu(1, 5.0), SETTINGS) == 1.0  # clipped


def test_psi_cpu_level_is_wall_time_fraction() -> None:
    before, after = cpu(0, 0, source="psi", cpus=1), cpu(2, 0.5, source="psi", cpus=1)
    assert level_between("cpu", before, after, SETTINGS) == pytest.approx(0.25)


def test_missed_intervals_are_averaged_over_the_real_window() -> None:
    # Four intervals missed: the same wait over 5 s is a fifth of the level.
    assert level_between("cpu", cpu(0, 0), cpu(5, 1.0), SETTINGS) == pytest.approx(0.1)


def test_counter_reset_does_not_give_a_negative_level() -> None:
    level = level_between("cpu", cpu(0, 100.0), cpu(1, 0.4), SETTINGS)
    assert level == pytest.approx(0.2)


def test_source_switch_or_no_time_is_unknowable() -> None:
    assert level_between("cpu", cpu(0, 0), cpu(1, 1, source="psi"), SETTINGS) is None
    assert level_between("cpu", cpu(1, 0), cpu(1, 1), SETTINGS) is None


def test_memory_level_stall_plus_bounded_fault_term() -> None:
    before = Reading("ebpf", 0, {"stall_ns": 0, "faults": 0})
    stalled = Reading("ebpf", 1, {"stall_ns": 0.3e9, "faults": 0})
    faulting = Reading("ebpf", 1, {"stall_ns": 0, "faults": 10e6})
    assert level_between("memory", before, stalled, SETTINGS) == pytest.approx(0.3)
    assert level_between("memory", before, faulting, SETTINGS) == pytest.approx(0.2)


def net(at: float, **counters: float) -> Reading:
    base = dict.fromkeys(
        ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "drops", "retransmits"), 0.0
    )
    base.update(counters)
    return Reading("ebpf", at, base)


def test_network_level_is_utilisation() -> None:
    # 8 Mbit/s link; 500 kB/s = 4 Mbit/s = half.
    level = level_between("network", net(0), net(1, rx_bytes=500_000), SETTINGS)
    assert level == pytest.approx(0.5)


def test_network_drops_dominate_when_worse() -> None:
    after = net(1, rx_packets=10_000, drops=1_000)
    assert level_between("network", net(0), after, SETTINGS) == pytest.approx(
        (1000 / 11_000) / SETTINGS.loss_saturation
    )


def test_a_few_idle_drops_stay_small() -> None:
    after = net(1, rx_packets=3, drops=2)
    level = level_between("network", net(0), after, SETTINGS)
    assert level is not None
    assert level < 0.05


def test_smoothed_rate_follows_a_ramp_and_weighs_long_steps_more() -> None:
    rate = SmoothedRate(time_constant_s=2.0)
    for step in range(40):
        rate.update(0.01 * step, float(step))
    assert rate.rate == pytest.approx(0.01, rel=1e-6)
    short, long = SmoothedRate(2.0), SmoothedRate(2.0)
    short.update(0.0, 0.0)
    long.update(0.0, 0.0)
    short.update(1.0, 1.0)
    long.update(3.0, 3.0)  # two intervals missed, same instantaneous rate 1/s
    assert short.rate == pytest.approx(1 - math.exp(-0.5))
    assert long.rate == pytest.approx(1 - math.exp(-1.5))


def test_model_on_a_recorded_sequence_with_a_reset_and_a_gap() -> None:
    model = PressureModel(SETTINGS)
    stall = [0.0, 0.2, 0.6, 1.2, 0.1, 0.5]  # s of wait (2 CPUs); reset after 1.2
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]  # one interval missed at the end
    levels = []
    for at, wait in zip(times, stall, strict=True):
        got, rates = model.update({"cpu": cpu(at, wait)})
        levels.append(got.get("cpu"))
    assert levels[0] is None
    assert levels[1:] == pytest.approx([0.1, 0.2, 0.3, 0.05, 0.1])
    assert set(rates) == {"cpu"}


def test_model_keeps_the_last_level_across_a_source_switch() -> None:
    model = PressureModel(SETTINGS)
    model.update({"cpu": cpu(0, 0)})
    model.update({"cpu": cpu(1, 1.0)})
    levels, _ = model.update({"cpu": cpu(2, 7.0, source="psi", cpus=1)})
    assert levels == {"cpu": pytest.approx(0.5)}
    levels, _ = model.update({"cpu": cpu(3, 7.25, source="psi", cpus=1)})
    assert levels == {"cpu": pytest.approx(0.25)}


def test_peek_does_not_move_the_baseline() -> None:
    model = PressureModel(SETTINGS)
    model.update({"cpu": cpu(0, 0)})
    assert model.peek({"cpu": cpu(0.5, 0.5)}) == {"cpu": pytest.approx(0.5)}
    levels, _ = model.update({"cpu": cpu(1, 0.5)})
    assert levels == {"cpu": pytest.approx(0.25)}
