"""The scheduler's view as a hard constraint on every action.

Pressure anticipates; requests, selectors, affinity, taints and budgets decide. The
controller hands the planner a SchedulingView built from its informers' caches (the
pending pods, every machine's node template, the ready nodes with their pods, the
budgets). With it:

- a pool's pending pods power on only the machines the scale-up estimate
  (``binpack``) packs them onto, in the scorer's order: a pod that fits no machine,
  or one that does not trigger (expendable, gated, nominated), powers nothing on;
- a machine is offered for power-off only if the scale-down simulation
  (``scaledown``) finds every pod it would evict a place on the other ready nodes,
  every budget allows it and nothing blocks it; the scorer's order says which such
  machine goes first.

Without a view (the trace simulator has pressure, not pods) the planner decides on
pressure and summed requests alone, as it always has.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from controller.config.schema import PoolSpec
from controller.planning.binpack import (
    PRIORITY_CUTOFF,
    PodVerdict,
    ScaleUpEstimate,
    estimate_scale_up,
)
from controller.planning.disruption import DisruptionBudget, EvictionRules
from controller.planning.pods import Pod, PodShape
from controller.planning.scaledown import NodeState, ScaleDownSimulator
from controller.planning.snapshot import MachineView
from controller.planning.templates import NodeTemplate


@dataclass(frozen=True)
class SchedulingView:
    """The cluster as the scheduler sees it, at the snapshot's instant."""

    pending: Mapping[str, tuple[Pod, ...]] = field(default_factory=dict)
    """Pool → its unschedulable pods (a pod several pools could host is in each)."""
    unhostable: tuple[Pod, ...] = ()
    """Unschedulable pods no pool's labels and taints admit: nothing powers on for them."""
    templates: Mapping[str, NodeTemplate] = field(default_factory=dict)
    """Machine → the Node it becomes once joined."""
    nodes: tuple[NodeState, ...] = ()
    """Every Ready node of the cluster, of any pool or none, with the pods bound to it."""
    budgets: tuple[DisruptionBudget, ...] = ()
    daemons: tuple[PodShape, ...] = ()
    """One pod shape per DaemonSet running in the cluster: a new node runs them too."""
    arriving: tuple[str, ...] = ()
    """Machines already powering on or joining, of every pool: pods fill them first."""
    priority_cutoff: int = PRIORITY_CUTOFF


@dataclass(frozen=True)
class PodsUp:
    """What the pending pods ask of one pool."""

    chosen: tuple[MachineView, ...]
    """Machines to power on, best first, within the pool's budget."""
    unplaceable: dict[str, str]
    """Pod ``namespace/name`` → why no machine of the pool could run it."""
    ignored: dict[str, str]
    """Pod → why it does not ask for a machine."""
    waiting: int
    """Pods that machines already on their way will take."""


def pods_up(view: SchedulingView, pods: Sequence[Pod], ranked: Sequence[MachineView], *,
            arriving: Sequence[NodeTemplate], budget: int) -> PodsUp:
    """The machines among ``ranked`` (off, eligible, best first) that the pods need."""
    by_node = {view.templates[m.name].name: m for m in ranked}
    estimate = estimate_scale_up(
        pods, [view.templates[m.name] for m in ranked], arriving=arriving,
        node_daemons=view.daemons, priority_cutoff=view.priority_cutoff)
    chosen = tuple(by_node[name] for name in estimate.machines[:max(budget, 0)])
    return PodsUp(chosen, _reasons(estimate.unplaceable), _reasons(estimate.ignored),
                  waiting=_on_arriving(estimate, {t.name for t in arriving}))


def _reasons(verdicts: Sequence[PodVerdict]) -> dict[str, str]:
    return {verdict.pod.key: verdict.reason for verdict in verdicts}


def _on_arriving(estimate: ScaleUpEstimate, arriving: set[str]) -> int:
    return sum(len(pods) for node, pods in estimate.placements.items() if node in arriving)


@dataclass(frozen=True)
class Spared:
    """The first machine the cluster can spare, and why the ones before it could not go."""

    machine: MachineView | None
    passed_over: dict[str, str]
    """Machine → why its node cannot go now."""


def first_spared(view: SchedulingView, pool: PoolSpec, ranked: Sequence[MachineView], *,
                 node_of: Mapping[str, str], removing: Collection[str]) -> Spared:
    """Walk ``ranked`` (the scorer's order) to the first machine whose node may go.

    ``node_of``: machine → its node's name; ``removing``: nodes already draining or
    powering off, which take no pods. One simulator for the whole walk: it is built
    once from the cluster (the costly part) and each check touches only its node.
    """
    simulator = ScaleDownSimulator(view.nodes, view.budgets, rules=EvictionRules.of_pool(pool))
    known = {node.name for node in view.nodes}
    passed_over: dict[str, str] = {}
    for machine in ranked:
        node = node_of.get(machine.name, machine.name)
        if node not in known:
            passed_over[machine.name] = f"its node {node} is not Ready in the cluster"
            continue
        verdict = simulator.check(node, removing=removing)
        if verdict.removable:
            return Spared(machine, passed_over)
        passed_over[machine.name] = verdict.reason
    return Spared(None, passed_over)
