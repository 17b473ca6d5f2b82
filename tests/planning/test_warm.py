"""Warm capacity: a pool keeps free allocatable on Ready nodes, powering on to restore
it and powering nothing off below it; from the scheduler's view or from pressure."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config import AutoscalerConfig, ConfigError
from controller.metrics import reason_kind
from controller.planning import MachineState, MachineView, Planner, PlanResult, PoolMemory, Snapshot
from controller.planning.constraints import SchedulingView
from controller.planning.scaledown import NodeState
from controller.planning.templates import template_for_machine
from tests.planning.builders import config, machine, powered_off, powered_on, signal
from tests.planning.scheduling import GiB, pod

READY, OFF, POWERING_ON = MachineState.READY, MachineState.OFF, MachineState.POWERING_ON
NOW = 10_000.0


def spared(spare: dict[str, Any], **pool: Any) -> AutoscalerConfig:
    return config(pool={"spare": spare, **pool},
                  machines={"a": "small", "b": "small", "c": "cpu-heavy"})


def plan(cfg: AutoscalerConfig, machines: list[MachineView], *, level: float = 0.3,
         view: SchedulingView | None = None, memory: PoolMemory | None = None) -> PlanResult:
    snapshot = Snapshot(now=NOW, config=cfg, machines=tuple(machines),
                        signals={"general": signal(cpu=level, memory=level)},
                        memory={"general": memory or PoolMemory()}, scheduling=view)
    return Planner(cfg).plan(snapshot)


def test_a_spare_is_requests_or_nodes_not_both() -> None:
    with pytest.raises(ConfigError) as caught:
        spared({"cpu": 8, "nodes": 1})
    assert caught.value.problems == [
        "pools[0].spare.nodes: 1 with cpu or memory; give requests or nodes, not both"]
    with pytest.raises(ConfigError) as caught:
        spared({"memory": "lots"})
    assert caught.value.problems[0].startswith("pools[0].spare.memory: 'lots' is not a quantity")
    spare = spared({"cpu": 8, "memory": "32Gi"}).pools[0].spare
    assert (spare.cpu, spare.memory, spare.nodes) == (8.0, 32 * GiB, 0)


# Without a scheduler's view: the Ready machines' configured allocatable (capacity less
# systemReserved: 1Gi of memory by default) less what the pressure level says is used.

def test_a_pool_short_of_its_spare_powers_on_in_the_scorers_order_and_says_why() -> None:
    cfg = spared({"cpu": 8})
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    result = plan(cfg, machines, level=0.5)  # 8 cores, half used: 4 free
    assert powered_on(result) == ["b"]  # 4 more cores: the small machine, not the big one
    reason = result.records[0].reason
    assert reason == "warm capacity: cpu 4, memory 15.5Gi free, spare asks cpu 8, memory 0Gi"
    assert reason_kind(reason) == "warm-capacity"


def test_the_spare_is_restored_within_the_batch() -> None:
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    assert len(powered_on(plan(spared({"cpu": 100}), machines))) == 1
    assert len(powered_on(plan(spared({"cpu": 100}, scaleUp={"batch": 2}), machines))) == 2


def test_a_machine_on_its_way_counts_toward_the_spare() -> None:
    cfg = spared({"cpu": 8})
    machines = [machine("a", "small", READY), machine("b", "small", POWERING_ON, since=NOW),
                machine("c", "cpu-heavy")]
    assert plan(cfg, machines, level=0.5).actions == ()


def test_no_machine_is_powered_off_below_the_spare() -> None:
    machines = [machine(name, "small", READY, since=0) for name in ("a", "b")] + \
        [machine("c", "cpu-heavy")]
    down = PoolMemory(wants_down_since=0.0)
    # 16 cores at level 0.05: 15.2 free; without one small machine 7.2.
    kept = plan(spared({"cpu": 8}), machines, level=0.05, memory=down)
    assert powered_off(kept) == []
    record = kept.records[0]
    assert record.reason.endswith(
        "; no machine can be powered off without going below the warm capacity")
    assert record.excluded["a"] == ("warm capacity: cpu 7.2, memory 27.9Gi would be free, "
                                    "spare asks cpu 8, memory 0Gi")
    assert len(powered_off(plan(spared({"cpu": 7}), machines, level=0.05, memory=down))) == 1


def test_nodes_without_a_view_ask_for_that_many_mean_machines_free() -> None:
    # Mean allocatable of a, b (8 cores) and c (64): 26.67 cores; 16 ready, 4 used.
    cfg = spared({"nodes": 1})
    machines = [machine("a", "small", READY), machine("b", "small", READY),
                machine("c", "cpu-heavy")]
    result = plan(cfg, machines, level=0.25)
    assert powered_on(result) == ["c"]
    assert result.records[0].reason.startswith("warm capacity: cpu 12, ")


# With the scheduler's view: each Ready node's allocatable less its pods' requests.

def view_of(cfg: AutoscalerConfig, pods: dict[str, list[Any]]) -> SchedulingView:
    pool = cfg.pools[0]
    templates = {spec.name: template_for_machine(spec, pool) for spec in cfg.machines}
    return SchedulingView(templates=templates,
                          nodes=tuple(NodeState(templates[name], tuple(on))
                                      for name, on in pods.items()))


def test_free_allocatable_comes_from_the_nodes_pods_requests() -> None:
    cfg = spared({"cpu": 4})
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    busy = view_of(cfg, {"a": [pod("web", cpu=6, memory=GiB)]})  # 8 cores, 6 requested
    result = plan(cfg, machines, view=busy, level=0.0)
    assert powered_on(result) == ["b"]
    assert result.records[0].reason == ("warm capacity: cpu 2, memory 30Gi free, "
                                        "spare asks cpu 4, memory 0Gi")
    light = view_of(cfg, {"a": [pod("web", cpu=2, memory=GiB)]})
    assert plan(cfg, machines, view=light, level=0.9).records[0].reason.find("warm") == -1


def test_nodes_with_a_view_count_ready_nodes_without_a_workload_pod() -> None:
    cfg = spared({"nodes": 1})
    machines = [machine("a", "small", READY), machine("b", "small"), machine("c", "cpu-heavy")]
    busy = plan(cfg, machines, view=view_of(cfg, {"a": [pod("web", cpu=1)]}), level=0.0)
    assert powered_on(busy) == ["b"]
    assert busy.records[0].reason == "warm capacity: 0 idle node(s), spare asks 1"
    daemon_only = view_of(cfg, {"a": [pod("agent", cpu=1, owner="DaemonSet")]})
    assert plan(cfg, machines, view=daemon_only, level=0.0).actions == ()


def test_with_a_view_a_machine_goes_only_while_more_nodes_than_the_spare_are_idle() -> None:
    machines = [machine(name, "small", READY, since=0) for name in ("a", "b")] + \
        [machine("c", "cpu-heavy")]
    down = PoolMemory(wants_down_since=0.0)
    cfg = spared({"nodes": 2})
    idle = view_of(cfg, {"a": [], "b": []})
    kept = plan(cfg, machines, view=idle, level=0.05, memory=down)
    assert powered_off(kept) == []
    assert kept.records[0].excluded["a"] == "warm capacity: 2 idle node(s), spare asks 2"
    cfg = spared({"nodes": 1})
    assert len(powered_off(plan(cfg, machines, view=view_of(cfg, {"a": [], "b": []}),
                                level=0.05, memory=down))) == 1


def test_no_spare_changes_nothing() -> None:
    cfg = config(machines={"a": "small", "b": "small"})
    machines = [machine("a", "small", READY), machine("b", "small")]
    assert plan(cfg, machines, level=0.5).actions == ()
