"""Schedules: windows in a time zone raise minNodes and gate power-off, across a
daylight-saving change, with the wall-clock time injected through the Snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.config import AutoscalerConfig, ConfigError, load_config_text
from controller.planning import MachineState, Planner, PlanResult, PoolMemory, Snapshot
from controller.planning.schedules import in_force, is_open, next_edge
from tests.planning.builders import config, machine, powered_off, powered_on, signal

READY = MachineState.READY
BERLIN = "Europe/Berlin"


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type, misc]


def scheduled(*windows: dict[str, Any], limits: dict[str, Any] | None = None,
              machines: dict[str, str] | None = None) -> AutoscalerConfig:
    return config(pool={"schedules": list(windows), "limits": limits or {}},
                  machines=machines or {"a": "small", "b": "small", "c": "small"})


def plan_at(cfg: AutoscalerConfig, machines: list[Any], wall: float | None, *,
            now: float = 100_000.0, memory: dict[str, PoolMemory] | None = None,
            cpu: float = 0.3) -> PlanResult:
    return Planner(cfg).plan(Snapshot(now=now, config=cfg, machines=tuple(machines),
                                      signals={"general": signal(cpu=cpu, memory=cpu)},
                                      memory=memory or {}, wall=wall))


OFFICE = {"name": "office-hours", "timeZone": BERLIN, "days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
          "start": "08:00", "end": "18:00", "minNodes": 2}


def problems(window: dict[str, Any], limits: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        scheduled({"name": "ok", "start": "01:00", "end": "02:00", "powerOff": "never"}, window,
                  limits=limits)
    return caught.value.problems


def test_a_bad_window_is_refused_with_its_field_path() -> None:
    base = {"name": "w", "start": "08:00", "end": "18:00", "minNodes": 1}
    assert problems({**base, "start": "25:00"}) == [
        "pools[0].schedules[1].start: '25:00' is not HH:MM (00:00 to 24:00)"]
    # YAML 1.1 reads an unquoted 18:00 as the number 1080.
    assert problems({**base, "end": 1080}) == [
        'pools[0].schedules[1].end: 1080 is not HH:MM: quote times ("18:00"), '
        "or YAML may read them as numbers"]
    assert problems({**base, "timeZone": "Europe/Berlinn"}) == [
        "pools[0].schedules[1].timeZone: 'Europe/Berlinn' is not an IANA time zone "
        "(like Europe/Berlin)"]
    assert problems({**base, "days": ["Mon", "Funday"]})[0].startswith(
        "pools[0].schedules[1].days[1]: 'Funday' is not one of")
    assert problems({**base, "end": "08:00"}) == [
        "pools[0].schedules[1].end: '08:00' equals start; a whole day is '00:00' to '24:00'"]
    assert problems({**base, "start": "24:00"}) == [
        "pools[0].schedules[1].start: '24:00' is the end of a day; start at '00:00'"]
    assert problems({"name": "w", "start": "08:00", "end": "18:00"}) == [
        "pools[0].schedules[1]: says nothing; set minNodes or powerOff (never, only)"]
    assert problems({**base, "minNodes": 5}, limits={"maxNodes": 3}) == [
        "pools[0].schedules[1].minNodes: 5 is above limits.maxNodes 3"]
    assert problems({**base, "name": "ok"}) == [
        "pools[0].schedules[1].name: 'ok' repeats pools[0].schedules[0]"]


def test_an_unquoted_time_is_refused_not_misread() -> None:
    text = """
apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools:
  - name: general
    schedules:
      - {name: office-hours, start: "08:00", end: 18:00, minNodes: 1}
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    assert caught.value.problems == [
        'pools[0].schedules[0].end: 1080 is not HH:MM: quote times ("18:00"), '
        "or YAML may read them as numbers"]


def test_times_are_normalised_and_the_time_zone_defaults_to_utc() -> None:
    cfg = scheduled({"name": "w", "start": "8:05", "end": "24:00", "minNodes": 1})
    window = cfg.pools[0].schedules[0]
    assert (window.start, window.end, window.time_zone) == ("08:05", "24:00", "UTC")
    assert window.days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert is_open(window, utc(2026, 6, 1, 23, 59))
    assert not is_open(window, utc(2026, 6, 2, 0, 0))


def test_a_window_spans_the_real_hours_across_the_spring_forward_night() -> None:
    # Sunday 29 March 2026: Berlin skips 02:00-03:00 (CET +1 → CEST +2).
    cfg = scheduled({"name": "night", "timeZone": BERLIN, "days": ["Sun"], "start": "01:00",
                     "end": "05:00", "powerOff": "never"},
                    {"name": "skipped", "timeZone": BERLIN, "days": ["Sun"], "start": "02:30",
                     "end": "04:00", "powerOff": "never"})
    night, skipped = cfg.pools[0].schedules
    assert not is_open(night, utc(2026, 3, 28, 23, 59))  # 00:59 CET
    assert is_open(night, utc(2026, 3, 29, 0, 0))  # 01:00 CET
    assert is_open(night, utc(2026, 3, 29, 2, 59))  # 04:59 CEST
    assert not is_open(night, utc(2026, 3, 29, 3, 0))  # 05:00 CEST: three real hours
    # 02:30 does not exist that night: the window starts at 03:30 CEST.
    assert not is_open(skipped, utc(2026, 3, 29, 1, 29))
    assert is_open(skipped, utc(2026, 3, 29, 1, 30))
    assert next_edge(cfg.pools[0], utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 1, 30)


def test_a_window_spans_the_real_hours_across_the_fall_back_night() -> None:
    # Sunday 25 October 2026: Berlin repeats 02:00-03:00 (CEST +2 → CET +1).
    cfg = scheduled({"name": "night", "timeZone": BERLIN, "days": ["Sun"], "start": "02:30",
                     "end": "03:30", "powerOff": "never"})
    night = cfg.pools[0].schedules[0]
    assert not is_open(night, utc(2026, 10, 25, 0, 29))
    assert is_open(night, utc(2026, 10, 25, 0, 30))  # the first 02:30, summer time
    assert is_open(night, utc(2026, 10, 25, 2, 29))  # two real hours later: 03:29 CET
    assert not is_open(night, utc(2026, 10, 25, 2, 30))
    assert next_edge(cfg.pools[0], utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 25, 2, 30)


def test_a_window_that_ends_before_it_starts_ends_the_next_day() -> None:
    cfg = scheduled({"name": "batch", "timeZone": BERLIN, "days": ["Fri"], "start": "22:00",
                     "end": "06:00", "powerOff": "never"})
    batch = cfg.pools[0].schedules[0]
    assert is_open(batch, utc(2026, 6, 6, 3, 0))  # Saturday 05:00 CEST
    assert not is_open(batch, utc(2026, 6, 7, 3, 0))  # Sunday: no window started Saturday


def test_office_hours_raise_min_nodes_and_say_so() -> None:
    cfg = scheduled(OFFICE, limits={"minNodes": 1})
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "small")]
    monday_8 = utc(2026, 3, 30, 6, 0)  # 08:00 CEST
    before = plan_at(cfg, machines, monday_8 - 60)
    assert powered_on(before) == []
    assert in_force(cfg.pools[0], monday_8 - 60).min_nodes == 1
    assert before.wakes["general"] == 100_000.0 + 60  # the window's start
    during = plan_at(cfg, machines, monday_8)
    assert len(powered_on(during)) == 1
    assert during.records[0].reason == "below minNodes (2, schedule office-hours)"
    assert during.wakes["general"] <= 100_000.0 + 10 * 3600  # its end at the latest


def test_a_wake_time_counts_the_real_seconds_to_a_window_across_the_dst_change() -> None:
    cfg = scheduled(OFFICE)
    friday_18 = utc(2026, 3, 27, 17, 0)  # 18:00 CET, the window closes
    monday_8 = utc(2026, 3, 30, 6, 0)  # 08:00 CEST: one real hour fewer than the clocks say
    assert monday_8 - friday_18 == 2 * 86_400 + 13 * 3600
    result = plan_at(cfg, [machine("a", "small", READY)], friday_18)
    assert result.wakes["general"] == 100_000.0 + (monday_8 - friday_18)


def test_no_wall_time_means_no_schedule_applies() -> None:
    cfg = scheduled({**OFFICE, "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                     "start": "00:00", "end": "24:00"})
    result = plan_at(cfg, [machine("a", "small"), machine("b", "small")], None)
    assert powered_on(result) == []


def _surplus(cfg: AutoscalerConfig, wall: float) -> PlanResult:
    machines = [machine(name, "small", READY, since=0) for name in ("a", "b", "c")]
    memory = {"general": PoolMemory(wants_down_since=0.0)}
    return plan_at(cfg, machines, wall, memory=memory, cpu=0.05)


def test_power_off_is_held_inside_a_never_window_and_resumes_after_it() -> None:
    cfg = scheduled({"name": "batch-night", "timeZone": BERLIN, "start": "22:00",
                     "end": "06:00", "powerOff": "never"})
    inside = _surplus(cfg, utc(2026, 6, 1, 23, 0))  # 01:00 CEST
    assert powered_off(inside) == []
    assert inside.records[0].reason.endswith(
        "; power-off not allowed during schedule batch-night")
    assert inside.wakes["general"] == 100_000.0 + 5 * 3600  # 06:00 CEST
    assert len(powered_off(_surplus(cfg, utc(2026, 6, 1, 4, 0)))) == 1


def test_power_off_waits_for_an_only_window() -> None:
    cfg = scheduled({"name": "maintenance", "timeZone": BERLIN, "days": ["Sat"],
                     "start": "02:00", "end": "04:00", "powerOff": "only"})
    outside = _surplus(cfg, utc(2026, 6, 5, 12, 0))  # Friday 14:00 CEST
    assert powered_off(outside) == []
    assert outside.records[0].reason.endswith(
        "; power-off allowed only during schedule maintenance")
    assert outside.wakes["general"] == 100_000.0 + 12 * 3600  # Saturday 02:00 CEST
    assert len(powered_off(_surplus(cfg, utc(2026, 6, 6, 0, 30)))) == 1
