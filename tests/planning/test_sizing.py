"""Sizing to demand (``scoring.sizing.enabled``): power on ahead of the rise the daily
profile predicts, power off steady load down to its target, keep a peak through a
short dip. Exponent 1, so demand is ready capacity times the level."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from controller.config import ConfigError
from controller.planning import MachineState, PoolMemory
from controller.planning import forecast as forecasting
from controller.planning.forecast import BUCKET, DAY, DemandHistory
from tests.planning.builders import config, machine, plan, powered_off, powered_on, signal

READY = MachineState.READY
SIZED = {"sizing": {"enabled": True}}
HORIZON = 120.0
"""The builders' machines boot in 2 minutes: the forecast horizon."""


def learned(demands: list[float], *, cpu_margin: float = 0.0) -> tuple[DemandHistory, float]:
    """A cpu history fed one demand a minute, its errors known (the margin set to
    cpu_margin), and the time of the last sample."""
    history = None
    at = 0.0
    for number, value in enumerate(demands):
        at = 1.0 + number * BUCKET
        demand = np.array([value, 0.0, 0.0, 0.0])
        history = forecasting.observe(history, demand, at=at, horizon=HORIZON,
                                      window=86400.0, quantile=0.99)
        _, history = forecasting.outlook(history, demand, at=at, horizon=HORIZON,
                                         hold=HORIZON, fallback=np.zeros(4))
    assert history is not None
    return dataclasses.replace(history, errors_seen=forecasting.MIN_ERRORS,
                               quantile=np.array([cpu_margin, 0.0, 0.0, 0.0])), at


def four_big(ready: int) -> list:
    """Four 64-core machines, the first `ready` of them Ready for a long time."""
    return [machine(f"m{i}", "cpu-heavy", READY if i < ready else MachineState.OFF,
                    since=-10_000.0) for i in range(4)]


def test_steady_load_above_level_low_is_powered_off_down_to_its_target() -> None:
    # 256 cores ready at level 0.25: demand 64. The pressure rule held (0.25 is above
    # levelLow 0.2); sized to demand, the target is 64 and one machine goes.
    history, at = learned([64.0] * 90)
    memory = {"general": PoolMemory(wants_down_since=at - 3600, demand=history)}
    banded = plan(config(scoring={"thresholds": {"exponent": 1}}), four_big(4),
                  signal(cpu=0.25), now=at + 30)
    assert powered_off(banded) == []
    sized = plan(config(scoring=SIZED), four_big(4), signal(cpu=0.25), now=at + 30,
                 memory=memory)
    assert len(powered_off(sized)) == 1
    reason = sized.records[0].reason
    assert reason.startswith("ready above target: cpu demand 64, forecast 64, margin 0, "
                             "target 64, keep 64, ready 256"), reason


def test_a_machine_stays_when_the_margin_needs_it() -> None:
    # The same load with a learned margin of 150: the target is 214, and taking a
    # 64-core machine away would leave 192.
    history, at = learned([64.0] * 90, cpu_margin=150.0)
    memory = {"general": PoolMemory(wants_down_since=at - 3600, demand=history)}
    result = plan(config(scoring=SIZED), four_big(4), signal(cpu=0.25), now=at + 30,
                  memory=memory)
    assert powered_off(result) == []
    assert "removal would leave cpu 192 ready, below the target 214" in \
        result.records[0].excluded.values()


def test_machines_are_powered_on_a_boot_ahead_of_the_rise_the_profile_predicts() -> None:
    # Yesterday demand rose from 32 to 200 cores at minute 480. Today, at minute 479,
    # demand is still 32 on two Ready machines (level 0.25), no pressure at all; the
    # profile asks for 200, so machines are powered on now, a boot ahead.
    yesterday = [200.0 if 480 <= minute < 600 else 32.0 for minute in range(DAY)]
    history, at = learned(yesterday + [32.0] * 479)
    now = at + 10
    memory = {"general": PoolMemory(wants_up_since=now - 60, demand=history)}
    cfg = config(pool={"scaleUp": {"batch": 4}}, scoring=SIZED)
    result = plan(cfg, four_big(2), signal(cpu=0.25), now=now, memory=memory)
    assert len(powered_on(result)) == 2  # 128 ready + 128 arriving cover 200
    assert "forecast 200" in result.records[0].reason
    fresh = plan(cfg, four_big(2), signal(cpu=0.25), now=now,
                 memory={"general": PoolMemory(wants_up_since=now - 60)})
    assert powered_on(fresh) == []  # no profile: 32 and its fallback margin fit in 128


def test_a_peak_is_kept_through_a_dip_shorter_than_the_hold() -> None:
    # An hour at 200 cores on four machines, then a dip to 64 (level 0.25). The hold is
    # the pool's minUptime (10 minutes here, longer than a boot): through the dip every
    # machine stays; once the dip has lasted longer, the surplus goes.
    cfg = config(scoring=SIZED)
    history, at = learned([200.0] * 60 + [64.0] * 3)
    memory = {"general": PoolMemory(wants_down_since=at - 3600, demand=history)}
    during = plan(cfg, four_big(4), signal(cpu=0.25), now=at + 30, memory=memory)
    assert powered_off(during) == []
    history, at = learned([200.0] * 60 + [64.0] * 12)
    memory = {"general": PoolMemory(wants_down_since=at - 3600, demand=history)}
    after = plan(cfg, four_big(4), signal(cpu=0.25), now=at + 30, memory=memory)
    assert len(powered_off(after)) == 1


def test_a_pool_sized_to_demand_wakes_when_its_bucket_closes() -> None:
    history, at = learned([64.0] * 5)
    result = plan(config(scoring=SIZED), four_big(4), signal(cpu=0.25), now=at,
                  memory={"general": PoolMemory(demand=history)})
    assert result.wake_at <= (history.bucket + 1) * BUCKET


def test_a_rising_level_still_powers_on_and_a_still_one_is_left_to_the_target() -> None:
    # 256 cores at level 0.7 (above levelHigh 0.6): demand 179.2, covered by the ready
    # capacity with a learned margin of 0. Still, the target decides: nothing powers on.
    # Rising faster than `rate`, pressure powers on as it always did.
    history, at = learned([179.2] * 90)
    cfg = config(pool={"scaleUp": {"stabilizationWindow": "0s"}}, scoring=SIZED)
    machines = [*four_big(4), machine("m4", "cpu-heavy")]
    memory = {"general": PoolMemory(demand=history)}
    still = plan(cfg, machines, signal(cpu=0.7), now=at + 30, memory=memory)
    assert powered_on(still) == []
    rising = plan(cfg, machines, signal(cpu=0.7, rates=(0.01, 0.0, 0.0)), now=at + 30,
                  memory=memory)
    assert powered_on(rising) == ["m4"]
    assert rising.records[0].reason.startswith("pressure rising in cpu; cpu demand 179.2")


def test_a_pool_nobody_hears_from_keeps_its_machines_and_its_last_demand() -> None:
    # Its agents went quiet: the level is taken at targetLevel, which is no measurement;
    # the history keeps the last demand heard and nothing is powered off.
    history, at = learned([64.0] * 90)
    quiet = dataclasses.replace(signal(cpu=0.0), unheard=np.array([True, True, True, False]))
    memory = {"general": PoolMemory(wants_down_since=at - 3600, demand=history)}
    result = plan(config(scoring=SIZED), four_big(4), quiet, now=at + 30, memory=memory)
    assert powered_off(result) == []
    assert "unheard from" in result.records[0].reason
    kept = result.memory["general"].demand
    assert kept is not None and kept.last_demand[0] == 64.0


def test_a_quantile_outside_zero_to_one_is_refused_by_its_path() -> None:
    with pytest.raises(ConfigError, match=r"scoring\.sizing\.quantile: 1\.0 is not below 1\.0"):
        config(scoring={"sizing": {"quantile": 1.0}})
