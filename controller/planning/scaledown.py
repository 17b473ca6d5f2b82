"""Scale-down simulation: may this node go, and where would its pods run then?

Low pressure says a node is lightly used; it does not say the cluster can spare it.
A node is removable only if

1. nothing blocks it (``disruption.py``: annotations, pods without a controller,
   local storage, kube-system pods without a budget, unmodelled constraints);
2. every PodDisruptionBudget covering its pods allows that many disruptions now;
3. every pod that would be evicted (DaemonSet, mirror and finished pods stay: they
   go with the node) fits on the remaining nodes, by the same predicates as the
   scheduler's (``predicates.py``): requests against allocatable less what is
   already placed there, node filters, host ports, hostname anti-affinity. The node
   itself and the nodes being removed in the same pass are not targets.

Each node is checked as if it alone went (with ``removing``); ``remove`` checks a
node and, if it may go, takes it out and places its pods where the verdict put
them, so the next check of the same pass sees the room they took, as the Cluster
Autoscaler does when it removes several nodes at once.

Fast because the whole cluster's state is built once (``packing.Room``): each class
of alike pods has a count of how many more each node takes, computed once for all
the nodes checked. A check walks its node's classes, largest first, over the nodes
whose count is not zero, and keeps what it placed in a small overlay of its own
(only the few nodes it touched), so the shared state never needs undoing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from controller.planning.disruption import (
    DEFAULT_RULES,
    TERMINAL_PHASES,
    BudgetIndex,
    DisruptionBudget,
    EvictionRules,
    budget_blocker,
    evicted,
    eviction_blockers,
    node_blocker,
    unremarkable,
)
from controller.planning.packing import PodClasses, Room, summary
from controller.planning.pods import Pod, PodShape
from controller.planning.templates import NodeTemplate


@dataclass(frozen=True)
class NodeState:
    """A ready node as it is now: its template from its Node, its pods, annotations.

    Its pods are grouped by shape once, the first time a simulation asks: keep a
    NodeState while its Node and pods do not change, and a simulation over a
    thousand nodes handles a few dozen groups per node instead of every pod.
    """

    template: NodeTemplate
    pods: Sequence[Pod] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.template.name

    @cached_property
    def occupants(self) -> dict[PodShape, int]:
        """How many pods of each shape hold room here (finished pods hold none)."""
        return Counter(pod.shape for pod in self.pods if pod.phase not in TERMINAL_PHASES)

    @cached_property
    def leaving(self) -> dict[PodShape, tuple[Pod, ...]]:
        """The pods a drain would evict (``disruption.evicted``), by shape."""
        groups: dict[PodShape, list[Pod]] = {}
        for pod in evicted(self.pods):
            groups.setdefault(pod.shape, []).append(pod)
        return {shape: tuple(pods) for shape, pods in groups.items()}

    @cached_property
    def remarkable(self) -> frozenset[PodShape]:
        """Shapes of the leaving pods of which one is not ``disruption.unremarkable``."""
        return frozenset(shape for shape, pods in self.leaving.items()
                         if not all(unremarkable(pod) for pod in pods))


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    removable: bool
    reason: str
    moves: tuple[tuple[str, tuple[Pod, ...]], ...] = ()
    """Where the simulation put the evicted pods: (target node, pods) in order."""

    def destinations(self) -> dict[str, str]:
        """Pod ``namespace/name`` → the node the simulation moved it to."""
        return {pod.key: target for target, pods in self.moves for pod in pods}


class ScaleDownSimulator:
    """The cluster's ready nodes, their pods and budgets at one instant.

    Pass every ready node that could take pods (of every pool: pods move across
    pools), not only the candidates; cordoned nodes carry the
    ``node.kubernetes.io/unschedulable`` taint and take only the pods tolerating it.
    """

    def __init__(self, nodes: Sequence[NodeState], budgets: Sequence[DisruptionBudget] = (),
                 *, rules: EvictionRules = DEFAULT_RULES) -> None:
        self.nodes = list(nodes)
        self.budgets = list(budgets)
        self.rules = rules
        self._index = {node.name: i for i, node in enumerate(self.nodes)}
        self._classes = classes = PodClasses()
        self._moving: list[dict[int, Sequence[Pod]]] = []
        """Per node, the pods that would be evicted, by class."""
        self._remarkable: list[set[int]] = []
        """Per node, the classes with a pod some rule must look at (``unremarkable``)."""
        self.room = self._room(classes)
        self.asks = [list(zip(columns.tolist(), self.room.requests[n, columns].tolist(),
                               strict=True)) for n, columns in enumerate(self.room.columns)]
        index = BudgetIndex(self.budgets)
        self._covering = [index.covering(shape.namespace, shape.label_map)
                          for shape in classes.shapes]
        """Per class, the numbers of the budgets covering its pods."""
        self._spent = [0] * len(self.budgets)
        self._gone: set[int] = set()
        self._takers: dict[int, Takers] = {}
        self._free: list[list[int]] | None = None

    def _room(self, classes: PodClasses) -> Room:
        """Number every node's pods by class, note the leaving ones, fill a Room."""
        placed_nodes: list[int] = []
        placed_classes: list[int] = []
        placed_counts: list[int] = []
        for number, node in enumerate(self.nodes):
            occupants = node.occupants
            numbers = classes.indices(list(occupants))
            placed_classes += numbers
            placed_nodes += [number] * len(numbers)
            placed_counts += occupants.values()
            leaving = node.leaving
            self._moving.append(dict(zip(classes.indices(list(leaving)), leaving.values(),
                                         strict=True)))
            remarkable = node.remarkable
            self._remarkable.append(set(classes.indices(list(remarkable)))
                                    if remarkable else set())
        room = Room([node.template for node in self.nodes], classes)
        room.occupy(np.array(placed_nodes, dtype=np.int64),
                    np.array(placed_classes, dtype=np.int64),
                    np.array(placed_counts, dtype=np.int64))
        return room

    def check(self, node: str, *, removing: Collection[str] = ()) -> NodeVerdict:
        """Whether node may go now (besides those being removed), and why."""
        return self.check_all([node], removing=removing)[node]

    def check_all(self, nodes: Iterable[str] | None = None, *,
                  removing: Collection[str] = ()) -> dict[str, NodeVerdict]:
        """Each node's verdict, each as if it alone went with ``removing`` (every node
        not gone when none are named)."""
        numbers = [i for i in range(len(self.nodes)) if i not in self._gone] \
            if nodes is None else [self._index[name] for name in nodes]
        excluded = {self._index[name] for name in removing if name in self._index} | self._gone
        like = self.room.placed_like
        self._start_takers(like[cls] for n in numbers for cls in self._moving[n])
        return {self.nodes[n].name: self._check(n, excluded | {n}) for n in numbers}

    def remove(self, node: str, *, removing: Collection[str] = ()) -> NodeVerdict:
        """Check node now and, if it may go, take it out: its pods take the places
        the verdict gives them and their budgets' disruptions are spent, so the next
        check sees the room they took; the node is no target from then on. The
        verdict says which, as ``check`` would have."""
        verdict = self.check(node, removing=removing)
        if not verdict.removable:
            return verdict
        for target, pods in verdict.moves:
            number = self._index[target]
            for pod in pods:
                cls = self._classes.index(pod.shape)
                self.room.place(cls, np.array([number]), np.array([1]))
                moving = self._moving[number]  # to move again from there
                moving[cls] = (*moving.get(cls, ()), pod)
                if not unremarkable(pod):
                    self._remarkable[number].add(cls)
                for budget in self._covering[cls]:
                    self._spent[budget] += 1
        self._gone.add(self._index[node])
        self._takers.clear()
        self._free = None
        return verdict

    # -- one node --------------------------------------------------------------

    def _check(self, number: int, excluded: set[int]) -> NodeVerdict:
        name = self.nodes[number].name
        reason = node_blocker(self.nodes[number].annotations) or self._pod_blocker(number)
        if reason is not None:
            return NodeVerdict(name, False, reason)
        moves, reason = _Overlay(self, excluded).place(self._placed_alike(number))
        if reason is not None:
            return NodeVerdict(name, False, reason)
        moved = sum(len(pods) for _, pods in moves)
        said = f"its {moved} pod(s) fit on other nodes" if moved else "no pods to move"
        return NodeVerdict(name, True, said, moves)

    def _placed_alike(self, number: int) -> dict[int, Sequence[Pod]]:
        """The node's pods to move, by the class they are placed as (``placed_like``)."""
        like = self.room.placed_like
        groups: dict[int, Sequence[Pod]] = {}
        for cls, pods in self._moving[number].items():
            group = groups.get(like[cls])
            groups[like[cls]] = pods if group is None else (*group, *pods)
        return groups

    def _pod_blocker(self, number: int) -> str | None:
        moving, remarkable = self._moving[number], self._remarkable[number]
        covering = [self._covering[cls] for cls in moving]
        groups = [(pods, len(budgets), cls in remarkable)
                  for (cls, pods), budgets in zip(moving.items(), covering, strict=True)]
        reason = eviction_blockers(groups, rules=self.rules)
        if reason is not None or not any(covering):
            return reason
        counts: dict[int, int] = {}
        for pods, budgets in zip(moving.values(), covering, strict=True):
            for budget in budgets:
                counts[budget] = counts.get(budget, 0) + len(pods)
        return budget_blocker(self.budgets, counts, self._spent)

    def takers(self, cls: int) -> Takers:
        """The nodes that take pods of cls in the shared state, found as far as asked."""
        takers = self._takers.get(cls)
        if takers is None:
            self._start_takers([cls])
            takers = self._takers[cls]
        return takers

    def _start_takers(self, classes: Iterable[int]) -> None:
        """The first stretch of the takers of every class not started yet, at once."""
        missing = sorted(set(classes) - self._takers.keys())
        if not missing:
            return
        stop = min(len(self.nodes), Takers.FIRST)
        block = self.room.counts_block(missing, 0, stop)
        rows, nodes = np.nonzero(block)
        bounds = np.searchsorted(rows, np.arange(len(missing) + 1)).tolist()
        nodes_list, counts_list = nodes.tolist(), block[rows, nodes].tolist()
        for row, cls in enumerate(missing):
            first, last = bounds[row], bounds[row + 1]
            self._takers[cls] = Takers(self.room, cls, nodes_list[first:last],
                                       counts_list[first:last], stop)

    def free_rows(self) -> list[list[int]]:
        """The free room of every node as Python integers, for the overlay's few
        nodes (a numpy call per node would cost more than the arithmetic)."""
        if self._free is None:
            self._free = self.room.free.tolist()
        return self._free


def check_nodes(nodes: Sequence[NodeState], budgets: Sequence[DisruptionBudget] = (), *,
                rules: EvictionRules = DEFAULT_RULES, candidates: Iterable[str] | None = None,
                removing: Collection[str] = ()) -> dict[str, NodeVerdict]:
    """Every candidate's verdict (every node when none are named), each checked as if
    it alone went with ``removing``: the ready nodes of a pool in one call."""
    simulator = ScaleDownSimulator(nodes, budgets, rules=rules)
    return simulator.check_all(candidates, removing=removing)


class _Overlay:
    """One node's simulation: its pods placed over the shared state, first fit in
    node order, with what it placed kept here for the few nodes it touched."""

    def __init__(self, simulator: ScaleDownSimulator, excluded: set[int]) -> None:
        self.simulator = simulator
        self.room = simulator.room
        self.excluded = excluded
        self.left: dict[int, list[int]] = {}
        """Free room of each node touched here, less what was placed on it."""
        self.added: dict[int, set[int]] = {}

    def place(self, groups: dict[int, Sequence[Pod]]
              ) -> tuple[tuple[tuple[str, tuple[Pod, ...]], ...], str | None]:
        moves: list[tuple[str, tuple[Pod, ...]]] = []
        for cls in self.room.first_fit_order(groups):
            pods = groups[cls]
            start = self._fill(cls, pods, moves)
            if start < len(pods):
                return (), self._refusal(cls, pods[start])
        return tuple(moves), None

    def _fill(self, cls: int, pods: Sequence[Pod],
              moves: list[tuple[str, tuple[Pod, ...]]]) -> int:
        """Place the pods of one class first fit; how many found a place."""
        takers = self.simulator.takers(cls)
        asks = self.simulator.asks[cls]
        partners = self.room.partners.get(cls)
        alone = partners is not None and cls in partners
        start, templates, excluded, touched = 0, self.room.templates, self.excluded, self.left
        index = 0
        while start < len(pods):
            if index == len(takers.nodes):
                if takers.extend():
                    continue
                break
            node, count = takers.nodes[index], takers.counts[index]
            index += 1
            if node in excluded:
                continue
            left = touched.get(node)
            if left is not None:  # the shared count, less what this check put there
                if partners and not partners.isdisjoint(self.added[node]):
                    continue
                count = min(left[column] // asked for column, asked in asks)
                if alone:
                    count = min(count, 1)
            take = min(count, len(pods) - start)
            if take > 0:
                self._add(cls, node, take)
                moves.append((templates[node].name, tuple(pods[start:start + take])))
                start += take
        return start

    def _add(self, cls: int, node: int, take: int) -> None:
        left = self.left.get(node)
        if left is None:
            left = self.left[node] = list(self.simulator.free_rows()[node])
            self.added[node] = set()
        for column, asked in self.simulator.asks[cls]:
            left[column] -= take * asked
        self.added[node].add(cls)

    def _refusal(self, cls: int, pod: Pod) -> str:
        among = np.ones(len(self.room.templates), dtype=np.bool_)
        among[list(self.excluded | set(self.left))] = False
        reasons = self.room.reasons(cls, among)
        free = self.simulator.free_rows()
        for node, left in self.left.items():
            if node not in self.excluded:
                used = [have - remaining for have, remaining in zip(free[node], left, strict=True)]
                why = self.room.reason_on(cls, node, used, self.added[node])
                if why is not None:
                    reasons[why] += 1
        targets = len(self.room.templates) - len(self.excluded)
        return f"pod {pod.key} would have nowhere to go: {summary(reasons, targets, 'nodes')}"


class Takers:
    """The nodes taking pods of one class in the shared state, and how many each,
    in node order, computed a stretch at a time as a walk reaches the end of what is
    known: first fit mostly stops at the first few, and the whole row is computed
    only for a class that fits almost nowhere."""

    FIRST = 64
    """Nodes in the first stretch; each next one is twice as long."""

    def __init__(self, room: Room, cls: int, nodes: list[int], counts: list[int],
                 done: int) -> None:
        self.room = room
        self.cls = cls
        self.nodes = nodes
        self.counts = counts
        self._done = done
        """Nodes 0..done are known."""

    def extend(self) -> bool:
        """Find the takers of the next stretch of nodes; False when none is left."""
        start = self._done
        if start >= len(self.room.templates):
            return False
        stop = self._done = min(len(self.room.templates), max(self.FIRST, 2 * start))
        counts = self.room.counts_block([self.cls], start, stop)[0]
        found = np.flatnonzero(counts)
        self.nodes.extend((found + start).tolist())
        self.counts.extend(counts[found].tolist())
        return True
