"""Scale-up estimate: which machines that are off would make the pending pods run.

The scheduler has already said the pending pods fit on no node that is up. This
packs them onto the templates of machines that are off (``templates.py``), in the
order the scorer ranked those machines, and answers with the machines to power on,
the pods each would take, the pods no machine could take (with the scheduler's
reasons, the Cluster Autoscaler's ``NotTriggerScaleUp``) and the pods that do not
ask for a machine at all.

Pods that do not trigger a scale-up, as in the Cluster Autoscaler: a priority below
the cutoff (expendable pods, default -10: they only run in spare room), scheduling
gates (the scheduler will not try them yet), and a nominated node (preemption has
already made room for them there).

The packing is first-fit decreasing: classes of alike pods in order of their
dominant request, largest first; each pod goes to the first machine already chosen
that takes it (machines arriving first, then in the order they were chosen), else
to the first machine in the scorer's order that does. Identical pods are placed as
a count per machine in one array operation. Limits, on purpose:

- it is a heuristic: the smallest set of machines is a bin-packing problem, and
  first-fit decreasing may use a machine more than the optimum would (in one
  dimension at most 11/9 of it, plus one; with several resources there is no such
  bound). It never backtracks, so it never regrets a machine the scorer preferred;
- it packs requests, not usage, and only the modelled predicates
  (``predicates.py``; docs/scheduling.md lists what is not modelled);
- a pod's class is placed before the next class, so a class's pods fill machines in
  order rather than spreading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from controller.planning.packing import PodClasses, Room, fill, summary
from controller.planning.pods import Pod, PodShape
from controller.planning.templates import NodeTemplate

PRIORITY_CUTOFF = -10
"""Pods below this priority are expendable and never power a machine on (the
Cluster Autoscaler's ``--expendable-pods-priority-cutoff`` default)."""


@dataclass(frozen=True)
class PodVerdict:
    pod: Pod
    reason: str


@dataclass(frozen=True)
class ScaleUpEstimate:
    machines: tuple[str, ...]
    """Nodes of the off machines to power on, in the candidates' (scorer's) order."""
    placements: Mapping[str, tuple[Pod, ...]]
    """Node → the pending pods packed onto it: the machines above, and any arriving
    machine that took some."""
    unplaceable: tuple[PodVerdict, ...]
    """Pods no machine could take, with the scheduler's sentence of why."""
    ignored: tuple[PodVerdict, ...]
    """Pods that do not trigger a scale-up, with why."""


def trigger_refusal(pod: Pod, *, priority_cutoff: int = PRIORITY_CUTOFF) -> str | None:
    """Why a pending pod does not ask for a machine; None if it does."""
    if pod.priority < priority_cutoff:
        return f"priority {pod.priority} is below the cutoff {priority_cutoff} (expendable)"
    if pod.scheduling_gated:
        return "the pod has scheduling gates"
    if pod.nominated_node:
        return f"preemption nominated node {pod.nominated_node} for it"
    return None


def estimate_scale_up(
    pending: Sequence[Pod], candidates: Sequence[NodeTemplate], *,
    arriving: Sequence[NodeTemplate] = (), node_daemons: Sequence[PodShape] = (),
    priority_cutoff: int = PRIORITY_CUTOFF,
) -> ScaleUpEstimate:
    """Pack pending onto arriving machines, then onto candidates in their order.

    ``candidates``: templates of machines that are off, best first (the scorer's
    order). ``arriving``: templates of machines already powering on or joining; they
    take pods first and are never in ``machines``, so one need is answered once.
    ``node_daemons``: the shapes of DaemonSet pods a new node runs; each takes its
    room on every machine whose node filters it passes before any pending pod does.
    """
    ignored: list[PodVerdict] = []
    classes = PodClasses()
    members: dict[int, list[Pod]] = {}
    for pod in pending:
        refusal = trigger_refusal(pod, priority_cutoff=priority_cutoff)
        if refusal is not None:
            ignored.append(PodVerdict(pod, refusal))
        else:
            members.setdefault(classes.index(pod.shape), []).append(pod)
    daemons = [classes.index(shape) for shape in node_daemons]
    bins = [*arriving, *candidates]
    room = Room(bins, classes)
    for number in daemons:
        nodes = np.flatnonzero(room.static_ok(number))
        room.place(number, nodes, np.ones(len(nodes), dtype=np.int64))
    packer = _Packer(room, arriving=len(arriving))
    unplaceable: list[PodVerdict] = []
    for number in room.first_fit_order(members):
        unplaceable.extend(packer.pack(number, members[number]))
    chosen = tuple(bins[index].name for index in sorted(packer.chosen))
    placements = {bins[index].name: tuple(pods) for index, pods in packer.placed.items()}
    return ScaleUpEstimate(chosen, placements, tuple(unplaceable), tuple(ignored))


class _Packer:
    """First fit over the open machines in the order they opened, then the rest."""

    def __init__(self, room: Room, *, arriving: int) -> None:
        self.room = room
        self.open_order = list(range(arriving))
        self.is_open = np.zeros(len(room.templates), dtype=np.bool_)
        self.is_open[:arriving] = True
        self.chosen: set[int] = set()
        self.placed: dict[int, list[Pod]] = {}

    def pack(self, number: int, pods: list[Pod]) -> list[PodVerdict]:
        """Place the pods of one class; the verdicts of those that fit nowhere."""
        counts = self.room.fit_counts(number)
        opened = np.array(self.open_order, dtype=np.intp)
        taken = fill(counts[opened], len(pods))
        nodes, takes = opened[taken > 0], taken[taken > 0]
        need = len(pods) - int(takes.sum())
        if need:
            closed = np.flatnonzero(~self.is_open & (counts > 0))
            extra = fill(counts[closed], need)
            fresh = closed[extra > 0]
            self.is_open[fresh] = True
            self.open_order.extend(fresh.tolist())
            self.chosen.update(fresh.tolist())
            nodes = np.concatenate([nodes, fresh])
            takes = np.concatenate([takes, extra[extra > 0]])
        self.room.place(number, nodes, takes)
        start = 0
        for node, take in zip(nodes.tolist(), takes.tolist(), strict=True):
            self.placed.setdefault(node, []).extend(pods[start:start + take])
            start += take
        if start == len(pods):
            return []
        everywhere = np.ones(len(self.room.templates), dtype=np.bool_)
        why = summary(self.room.reasons(number, everywhere), len(everywhere), "machines")
        return [PodVerdict(pod, why) for pod in pods[start:]]
