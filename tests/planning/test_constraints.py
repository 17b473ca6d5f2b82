"""The scheduler's view as a hard constraint on the planner: hand-worked cases.

Machines and pods in whole numbers (cores, GiB), so each expected answer can be
checked by hand from the shapes in ``builders.SHAPES``.
"""

from __future__ import annotations

import dataclasses

from controller.config import AutoscalerConfig
from controller.planning import MachineState, MachineView, Planner, PlanResult, PoolMemory, Snapshot
from controller.planning.constraints import SchedulingView
from controller.planning.pods import Pod
from controller.planning.scaledown import NodeState
from controller.planning.templates import NodeTemplate, template_for_machine
from tests.planning.builders import config, machine, powered_off, powered_on, signal
from tests.planning.scheduling import GiB, node, pod, spread, state

NOW = 10_000.0


def templates(cfg: AutoscalerConfig, **labels: dict[str, str]) -> dict[str, NodeTemplate]:
    """Every machine's template, with labels its Node reported for the ones named."""
    pool = cfg.pools[0]
    return {spec.name: template_for_machine(spec, pool, learned_labels=labels.get(spec.name))
            for spec in cfg.machines}


def plan_with(cfg: AutoscalerConfig, machines: list[MachineView], view: SchedulingView, *,
              levels: float = 0.3, memory: PoolMemory | None = None) -> PlanResult:
    pods = len(view.pending.get("general", ()))
    snapshot = Snapshot(now=NOW, config=cfg, machines=tuple(machines),
                        signals={"general": signal(levels, levels, pending=(1.0, GiB) if pods
                                                   else (0.0, 0.0), pods=pods)},
                        memory={"general": memory or PoolMemory()}, scheduling=view)
    return Planner(cfg).plan(snapshot)


def pending(cfg: AutoscalerConfig, *pods: Pod, **labels: dict[str, str]) -> SchedulingView:
    return SchedulingView(pending={"general": tuple(pods)}, templates=templates(cfg, **labels))


UP = config(pool={"scaleUp": {"batch": 4}},
            machines={"cpu-1": "cpu-heavy", "gpu-1": "gpu-box", "small-1": "small"})
OFF = [machine("cpu-1", "cpu-heavy"), machine("gpu-1", "gpu-box"), machine("small-1", "small")]


def test_a_pod_bigger_than_every_machine_powers_nothing_on_and_says_why() -> None:
    result = plan_with(UP, OFF, pending(UP, pod("huge", cpu=100)))
    assert powered_on(result) == []
    [record] = result.records
    assert list(record.unplaceable) == ["default/huge"]
    assert "Insufficient cpu" in record.unplaceable["default/huge"]


def test_a_gpu_pod_powers_on_the_gpu_machine_though_a_cpu_machine_scores_better() -> None:
    result = plan_with(UP, OFF, pending(UP, pod("trainer", cpu=2, gpu=1)))
    assert powered_on(result) == ["gpu-1"]
    assert plan_with(UP, OFF, pending(UP, pod("web", cpu=2))).actions[0].machine != "gpu-1"


def test_a_node_selector_only_one_machines_learned_labels_match_picks_that_machine() -> None:
    view = pending(UP, pod("db", cpu=1, selector={"disk": "nvme"}), **{"small-1": {"disk": "nvme"}})
    assert powered_on(plan_with(UP, OFF, view)) == ["small-1"]


def test_two_replicas_with_hostname_anti_affinity_need_two_machines() -> None:
    replicas = [pod(f"r{i}", cpu=1, labels={"app": "r"}, anti=[spread("r")]) for i in range(2)]
    assert len(powered_on(plan_with(UP, OFF, pending(UP, *replicas)))) == 2


def test_pods_that_ask_for_no_machine_power_nothing_on() -> None:
    view = pending(UP, pod("batch", cpu=1, priority=-100), pod("gated", cpu=1, gated=True))
    result = plan_with(UP, OFF, view)
    assert powered_on(result) == []
    assert set(result.records[0].ignored) == {"default/batch", "default/gated"}


def test_a_pod_a_machine_on_its_way_can_take_powers_nothing_more_on() -> None:
    joining = [dataclasses.replace(OFF[0], state=MachineState.JOINING, since=NOW - 5), *OFF[1:]]
    view = dataclasses.replace(pending(UP, pod("web", cpu=2)), arriving=("cpu-1",))
    assert powered_on(plan_with(UP, joining, view)) == []


def test_the_batch_bounds_what_the_pods_power_on() -> None:
    cfg = config(pool={"scaleUp": {"batch": 1}}, machines={"a": "small", "b": "small"})
    view = pending(cfg, *(pod(f"p{i}", cpu=6) for i in range(2)))
    result = plan_with(cfg, [machine("a", "small"), machine("b", "small")], view)
    assert len(powered_on(result)) == 1


DOWN = config(pool={"scaleDown": {"unneededTime": "1m", "minUptime": "1m"}},
              machines={"a": "small", "b": "small"})
READY = [machine("a", "small", MachineState.READY), machine("b", "small", MachineState.READY)]
LOW = PoolMemory(wants_down_since=NOW - 600)


def nodes(*states: NodeState) -> SchedulingView:
    return SchedulingView(templates=templates(DOWN), nodes=states)


def test_a_quiet_node_whose_pods_fit_nowhere_else_stays_on_and_explain_says_why() -> None:
    view = nodes(state(node("a", cpu=8), pod("x", cpu=6)), state(node("b", cpu=8), pod("y", cpu=6)))
    result = plan_with(DOWN, READY, view, levels=0.05, memory=LOW)
    assert powered_off(result) == []
    excluded = result.records[0].excluded
    assert "Insufficient cpu" in excluded["a"] and "Insufficient cpu" in excluded["b"]
    assert "somewhere to go" in result.records[0].reason


def test_the_same_node_goes_once_there_is_room_for_its_pods() -> None:
    view = nodes(state(node("a", cpu=8), pod("x", cpu=6)), state(node("b", cpu=8)))
    assert powered_off(plan_with(DOWN, READY, view, levels=0.05, memory=LOW)) in (["a"], ["b"])
    view = nodes(state(node("a", cpu=8), pod("x", cpu=6)),
                 state(node("b", cpu=8), pod("keep", cpu=1, namespace="kube-system")))
    assert powered_off(plan_with(DOWN, READY, view, levels=0.05, memory=LOW)) == ["a"]


def test_a_do_not_disrupt_pod_keeps_its_node() -> None:
    keep = pod("keep", cpu=1, annotations={"karpenter.sh/do-not-disrupt": "true"})
    view = nodes(state(node("a", cpu=8), keep), state(node("b", cpu=8), keep))
    result = plan_with(DOWN, READY, view, levels=0.05, memory=LOW)
    assert powered_off(result) == []
    assert "do-not-disrupt" in result.records[0].excluded["a"]


def test_a_machine_whose_drain_was_refused_is_not_offered_until_its_backoff_ends() -> None:
    refused = [dataclasses.replace(READY[0], backoff_until=NOW + 60), READY[1]]
    view = nodes(state(node("a", cpu=8)), state(node("b", cpu=8)))
    result = plan_with(DOWN, refused, view, levels=0.05, memory=LOW)
    assert powered_off(result) == ["b"]
    assert "refused" in result.records[0].excluded["a"]


def test_a_node_not_in_the_cluster_is_passed_over() -> None:
    view = nodes(state(node("b", cpu=8), pod("y", cpu=6)))
    result = plan_with(DOWN, READY, view, levels=0.05, memory=LOW)
    assert "not Ready" in result.records[0].excluded["a"]


def test_pending_pods_are_set_aside_for_the_join_settle_after_a_machine_joins() -> None:
    joined = [dataclasses.replace(OFF[0], state=MachineState.READY, since=NOW - 5), *OFF[1:]]
    view = pending(UP, pod("web", cpu=2))
    assert powered_on(plan_with(UP, joined, view)) == []
    settled = [dataclasses.replace(joined[0], since=NOW - 60), *OFF[1:]]
    assert powered_on(plan_with(UP, settled, view)) != []
