"""The lab's pure parts: pods → pressure, the ledger's arithmetic, what the view prints."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.config.loading import dump_yaml, load_config_text
from lab.fleet import DEMO_FLEET, Wiring, config_document
from lab.machine import Power
from lab.pressure import (
    Knees,
    RateSmoother,
    levels_of,
    node_usage,
    parse_load,
    utilisation,
)
from lab.status import LabStatus, MachineRow
from lab.summary import Ledger
from lab.view import Progress, describe
from lab.workload import DEMO_APPS, DEMO_STEPS, TraceIntensity


def _pod(cpu: str, memory: str, load: str = "") -> Any:
    container = SimpleNamespace(resources=SimpleNamespace(requests={"cpu": cpu, "memory": memory}))
    return SimpleNamespace(spec=SimpleNamespace(containers=[container]),
                           metadata=SimpleNamespace(annotations={"lab.bamel.io/load": load}))


def test_pods_use_their_requests_times_load_times_intensity() -> None:
    pods = [_pod("500m", "1Gi", "cpu=2"), _pod("1", "2Gi")]
    usage = node_usage(pods, {"memory": 1.5})
    assert usage["cpu"] == pytest.approx(2.0)
    assert usage["memory"] == pytest.approx(4.5 * 2**30)
    assert parse_load("cpu=0.5, memory=bad,gpu=2,disk=3") == {"cpu": 0.5, "gpu": 2.0}


def test_levels_rise_past_each_knee_and_stop_at_one() -> None:
    knees = Knees()
    used = utilisation({"cpu": 3.0, "memory": 8.0, "network": 2.5e9},
                       {"cpu": 4.0, "memory": 8.0, "network": 10e9})
    levels = levels_of(used, knees)
    assert levels == pytest.approx({"cpu": 0.5, "memory": 1.0, "network": 0.25})
    assert levels_of({"cpu": 0.4, "memory": 0.5, "network": 0.0}, knees) == \
        {"cpu": 0.0, "memory": 0.0, "network": 0.0}


def test_the_rate_follows_the_agents_smoothing() -> None:
    smoother = RateSmoother(time_constant=5.0)
    flat = {"cpu": 0.0, "memory": 0.0, "network": 0.0}
    smoother.update(0.0, flat)
    rates = smoother.update(1.0, {**flat, "cpu": 0.5})
    assert rates["cpu"] == pytest.approx((1 - math.exp(-0.2)) * 0.5)
    assert rates["memory"] == 0.0


def test_the_ledger_charges_idle_watts_for_off_time_in_the_always_on_figure() -> None:
    plan = SimpleNamespace(idle_watts=100.0, off_watts=5.0)
    off = SimpleNamespace(plan=plan, power=Power.OFF, power_ons=1, power_offs=1,
                          watts=lambda: 5.0)
    on = SimpleNamespace(plan=plan, power=Power.ON, power_ons=1, power_offs=0,
                         watts=lambda: 250.0)
    ledger = Ledger([off, on])  # type: ignore[list-item]
    ledger.tick(36.0, pending=2)
    summary = ledger.summary(decisions=3)
    assert summary.energy_wh == pytest.approx((5 + 250) * 36 / 3600)
    assert summary.always_on_wh == pytest.approx((100 + 250) * 36 / 3600)
    assert summary.pending_pod_seconds == 72
    assert (summary.power_ons, summary.power_offs) == (2, 1)
    assert "saved 27%" in summary.render()


def test_headless_lines_say_what_changed_once() -> None:
    decision = {"pool": "general", "direction": "power-on", "chosen": ["mem-1"],
                "reason": "pressure rising in memory",
                "rounds": [{"candidates": [
                    {"name": "mem-1", "total": 0.17,
                     "contributions": {"memory": 0.16, "cpu": 0.01}},
                    {"name": "cpu-1", "total": 0.9,
                     "contributions": {"memory": 0.83, "cpu": 0.0}},
                ]}]}
    assert describe(decision) == "mem-1 0.17 (mem 0.16, cpu 0.01); cpu-1 0.90 (mem 0.83)"
    out = io.StringIO()
    progress = Progress(out)
    row = MachineRow("mem-1", "general", "memory-heavy", "booting", "joining", "", {}, 0, True)
    status = LabStatus(elapsed=3.0, machines=[row], decisions=[decision],
                       holds={"general": "unneeded 3s of 15s"})
    progress.update(status)
    status.elapsed, status.holds = 4.0, {"general": "unneeded 4s of 15s"}
    progress.update(status)
    lines = out.getvalue().splitlines()
    assert sum("mem-1    power booting state joining" in line for line in lines) == 1
    assert sum("decide general: power-on mem-1" in line for line in lines) == 1
    assert sum("hold general" in line for line in lines) == 1


def test_the_demo_fleet_renders_a_valid_configuration() -> None:
    wiring = {m.name: Wiring(on={"driver": "fake"}, off={"driver": "fake"}, mac=m.mac)
              for m in DEMO_FLEET.machines}
    config = load_config_text(dump_yaml(config_document(DEMO_FLEET, wiring)))
    assert [m.name for m in config.machines] == [m.name for m in DEMO_FLEET.machines]
    assert config.pool("gpu").taints[0].key == "nvidia.com/gpu"
    assert {step.app for step in DEMO_STEPS} == {app.name for app in DEMO_APPS}


def test_the_trace_plays_around_one(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("cpu_util_percent,mem_util_percent,net_in\n" +
                     "".join(f"{10 + 10 * (i % 2)},50,{i}\n" for i in range(2000)))
    clock = iter([0.0, 0.0, 50.0]).__next__
    intensity = TraceIntensity(duration=100.0, path=trace, start_hour=0.0, hours=1.0,
                               clock=clock)
    first, middle = intensity(), intensity()
    assert first["memory"] == pytest.approx(1.0)
    assert first["cpu"] == pytest.approx(10 / 15)
    assert middle["network"] > first["network"]
