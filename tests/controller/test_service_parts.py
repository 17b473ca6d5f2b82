"""The service's small parts: triggers, reload, records, watts, logs, the power cache."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from bamel.logs import JsonFormatter, configure
from controller.config import ConfigHolder, load_config_text, render_config
from controller.fleetstate import machine_watts, publish
from controller.kube.pending import PendingTracker
from controller.kube.records import record_of, spec_of, status_of
from controller.kube.watching import Change
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState
from controller.power.cache import MachinePowerCache
from controller.reload import ConfigReloader, FileWatcher
from controller.triggers import CrossingDetector
from tests.controller.test_actuation import CFG
from wire import PressureSample


def sample(node: str = "n1", *, cpu: float = 0.3, rate: float = 0.0,
           seq: int = 1) -> PressureSample:
    levels = {"cpu": cpu, "memory": 0.3, "network": 0.3}
    rates = {"cpu": rate, "memory": 0.0, "network": 0.0}
    return PressureSample(node=node, boot_id="b", macs=(), timestamp=0.0, seq=seq,
                          interval=1.0, levels=levels, rates=rates,
                          sources=dict.fromkeys(levels, "psi"))


def test_a_node_wakes_the_planner_only_when_it_changes_band() -> None:
    detector = CrossingDetector(CFG)
    assert detector.crossed(sample())  # first word from a node
    assert not detector.crossed(sample(cpu=0.35))  # same band: stored, no wake
    assert detector.crossed(sample(cpu=0.9))  # above levelHigh
    assert not detector.crossed(sample(cpu=0.95))
    assert detector.crossed(sample(cpu=0.95, rate=0.5))  # now rising
    assert detector.crossed(sample(cpu=0.1, rate=-0.5))  # below levelLow, falling
    assert detector.crossed(sample("n2"))  # nodes are independent
    detector.reconfigure(CFG)
    assert detector.crossed(sample(cpu=0.1, rate=-0.5))  # new thresholds: compared afresh


@pytest.mark.usefixtures("fake_power_driver")
async def test_an_invalid_file_is_rejected_and_the_running_config_stays(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(render_config(CFG))
    applied = []
    metrics = ControllerMetrics()
    holder = ConfigHolder(CFG)
    holder.subscribe(applied.append)
    reloader = ConfigReloader(holder, metrics=metrics)
    watcher = FileWatcher(path, reloader)
    await watcher.check()
    assert applied == []  # unchanged text
    path.write_text(render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 7"))
    await watcher.check()
    assert applied == [] and holder.current == CFG
    assert metrics.config_reloads.labels("invalid")._value.get() == 1
    changed = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 0.7")
    path.write_text(changed)
    await watcher.check()
    assert applied == [load_config_text(changed)] and holder.current == applied[0]
    assert metrics.config_reloads.labels("applied")._value.get() == 1


@pytest.mark.usefixtures("fake_power_driver")
async def test_a_complaint_names_the_bad_field() -> None:
    complaints: list[str] = []

    async def complain(message: str) -> None:
        complaints.append(message)

    reloader = ConfigReloader(ConfigHolder(CFG), metrics=ControllerMetrics())
    bad = render_config(CFG).replace("maxPerMinute: 4", "maxPerMinute: -1")
    assert not await reloader.offer(bad, origin="test", complain=complain)
    assert "maxPerMinute" in complaints[0] and "-1" in complaints[0]


def test_a_record_survives_the_baremetalnode_status() -> None:
    record = MachineRecord(state=MachineState.ERROR, since=1_790_000_000.25, failures=2,
                           backoff_until=1_790_000_120.5, last_error="power on: timeout",
                           last_action="power-on", power_state="off",
                           kubernetes_node="node-a", observed_boot_seconds=93.0,
                           power_action="on", power_driver="ipmi",
                           power_time=1_790_000_000.5, power_result="unreachable")
    assert record_of(json.loads(json.dumps(status_of(record)))) == record
    assert record_of({}) == MachineRecord()
    off = status_of(MachineRecord())
    assert off["state"] == "off" and off["since"] is None and off["lastError"] is None


def test_the_baremetalnode_spec_mirrors_the_configured_machine() -> None:
    spec = spec_of(CFG.machines[0])
    assert spec["pool"] == "general"
    assert spec["power"]["on"]["driver"] == "fake"
    assert float(spec["capacity"]["memory"]) == CFG.machines[0].capacity.memory


def test_draw_follows_state_and_cpu_level() -> None:
    machine = CFG.machines[0]
    assert machine_watts(machine, MachineState.OFF, 0.9) == machine.off_watts
    assert machine_watts(machine, MachineState.JOINING, 0.9) == machine.idle_watts
    half = machine_watts(machine, MachineState.READY, 0.5)
    assert half == (machine.idle_watts + machine.busy_watts) / 2
    metrics = ControllerMetrics()
    records = {machine.name: MachineRecord(state=MachineState.READY)}
    publish(metrics, CFG, records, lambda node: 0.5)
    assert metrics.machine_state.labels(machine.name, "general", "ready")._value.get() == 1
    assert metrics.machine_state.labels(machine.name, "general", "off")._value.get() == 0
    others = sum(m.off_watts for m in CFG.machines[1:])
    assert metrics.energy_watts.labels("general")._value.get() == half + others


def test_json_logs_carry_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure(fmt="json", level="info")
    try:
        logging.getLogger("bamel.test").info("powered %s", "on", extra={"machine": "a"})
        entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        configure(fmt="text", level="warning")
    assert entry["message"] == "powered on" and entry["machine"] == "a"
    assert entry["level"] == "info" and entry["logger"] == "bamel.test"
    assert JsonFormatter().format(logging.makeLogRecord({"msg": "x"})).startswith("{")
    with pytest.raises(ValueError, match="--log-format"):
        configure(fmt="xml")


@pytest.mark.usefixtures("fake_power_driver")
async def test_power_pairs_are_reused_until_the_machine_changes() -> None:
    now = [0.0]
    cache = MachinePowerCache(secret_reader=None, max_age=600, clock=lambda: now[0])
    machine = CFG.machines[0]
    first = await cache.get(machine)
    assert await cache.get(machine) is first
    changed = machine.model_copy(update={"boot_time": 1.0})
    assert await cache.get(changed) is not first
    now[0] = 601.0
    assert await cache.get(changed) is not await cache.get(machine)
    await cache.close()


async def test_pods_leaving_the_pending_set_are_published() -> None:
    tracker = PendingTracker(CFG.pools, window=0.01)
    pod = {"metadata": {"name": "p", "namespace": "n"},
           "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]},
           "status": {"phase": "Pending", "conditions": [
               {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    await tracker.start()
    try:
        tracker.observe(Change("ADDED", pod, None))
        first = await asyncio.wait_for(tracker.snapshots.get(), 5)
        assert first.pools["general"].requests["cpu"] == 2.0
        bound = {**pod, "spec": {**pod["spec"], "nodeName": "a"}}
        tracker.observe(Change("MODIFIED", bound, pod))
        second = await asyncio.wait_for(tracker.snapshots.get(), 5)
        assert second.pools["general"].pods == () and second.new == ()
    finally:
        await tracker.close()


@pytest.mark.parametrize(("reason", "kind"), [
    ("pending pods request cpu, memory", "pending-pods"),
    ("pressure falling in cpu; unneeded 3s of 600s", "unneeded-wait"),
    ("pressure rising in memory; stabilizing 2s of 30s", "stabilizing"),
    ("below minNodes (2)", "min-nodes"),
    ("something new", "other"),
])
def test_decision_reasons_become_few_label_values(reason: str, kind: str) -> None:
    from controller.metrics import reason_kind

    assert reason_kind(reason) == kind


def test_a_bad_config_stops_the_controller_before_it_connects(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bamel.cli import main

    bad = tmp_path / "config.yaml"
    bad.write_text("apiVersion: bamel.io/v1alpha1\nkind: AutoscalerConfig\n"
                   "pools:\n  - name: a\n    limits: {maxNodes: -2}\n")
    code = main(["controller", "--config", str(bad), "--kubeconfig", str(tmp_path / "none")])
    assert code == 2
    assert "pools[0].limits.maxNodes: -2 is below 0" in capsys.readouterr().err
    assert main(["controller", "--config", str(bad), "--listen", "nope"]) == 2


def test_a_pool_status_counts_machines_by_where_they_are_going() -> None:
    from controller.fleetstate import pool_status

    records = {"a": MachineRecord(state=MachineState.READY),
               "b": MachineRecord(state=MachineState.JOINING)}
    status = pool_status(CFG, "general", records, ([4.0, 0.0, 0.0, 0.0], 3))
    assert (status["ready"], status["desired"], status["nodesScaling"]) == (1, 2, 1)
    assert status["pending"] == 3 and status["pendingResources"]["cpu"] == "4"
    a, b = CFG.machines[0].capacity, CFG.machines[1].capacity
    assert status["availableResources"]["cpu"] == f"{a.cpu:g}"
    assert status["activeResources"]["memory"] == f"{a.memory + b.memory:.0f}"
    scaling = {c["type"]: c["status"] for c in status["conditions"]}
    assert scaling == {"ScalingUp": "True", "ScalingDown": "False", "AtMaxNodes": "False"}


@pytest.mark.usefixtures("fake_power_driver")
async def test_an_edit_made_before_the_watch_began_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    changed = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 0.7")
    path.write_text(changed)  # edited while a standby waited for leadership
    applied: list[object] = []
    holder = ConfigHolder(CFG)
    holder.subscribe(applied.append)
    watcher = FileWatcher(path, ConfigReloader(holder, metrics=ControllerMetrics()))
    await watcher.start()
    await watcher.close()
    assert applied == [load_config_text(changed)]
