"""Nodes and pod classes as arrays: the predicates at the scale of a whole cluster.

A pass over a thousand nodes and thirty thousand pods cannot ask ``why_not`` for
every pod and node. Two observations make it cheap without changing an answer:

- pods of one ``PodShape`` are interchangeable, so the question is asked per class
  of pods, and the answer for a node is a count: how many more of them it takes;
- nodes whose labels (but the hostname) and taints are alike pass the same node
  filters, so those are evaluated once per class of nodes (``NodeTemplate.alike``),
  except for the rare pod that names a node.

Resources are an (nodes, resources) integer array of free room in
``scheduler_units``; a class's count on every node is one division, floored (exact:
every quantity is below 2**53, ``pods.CEILING``). Pairwise
rules (host ports, hostname anti-affinity) are resolved once per pair of classes,
looked up through an index of classes by label, and a node is closed to a class
while it holds a pod of a class it conflicts with. Every answer comes from the
functions of ``predicates.py``, so the packers and ``why_not`` cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from controller.planning.pods import CEILING, PodShape, Requirement
from controller.planning.predicates import (
    PORTS,
    UNKNOWN_UNLESS_STATED,
    conflict_reason,
    conflicts,
    insufficient,
    node_reason,
)
from controller.planning.templates import NodeTemplate

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNSTATED = CEILING
"""Free room of a resource the node does not state and that does not constrain."""


class PodClasses:
    """Pod shapes numbered in first-seen order, equal shapes one number.

    Looked up by the shape object's identity first: ``PodShape.of`` hands out one
    object per distinct shape, so the pods of a Deployment share theirs, and an
    integer key is hashed in C where a shape's hash is a Python call.
    """

    def __init__(self) -> None:
        self.shapes: list[PodShape] = []
        self._by_shape: dict[PodShape, int] = {}
        self._by_id: dict[int, int] = {}
        self._alive: list[PodShape] = []

    def index(self, shape: PodShape) -> int:
        """The class number of shape, a new one if it was not seen yet."""
        number = self._by_id.get(id(shape))
        if number is None:
            number = self._by_shape.get(shape)
            if number is None:
                number = self._by_shape[shape] = len(self.shapes)
                self.shapes.append(shape)
            self._by_id[id(shape)] = number
            if self.shapes[number] is not shape:
                self._alive.append(shape)  # an id is unique only while its object lives
        return number

    def indices(self, shapes: Sequence[PodShape]) -> list[int]:
        """index of each shape (a comprehension over the identity table first)."""
        known = self._by_id.get
        numbers = [known(id(shape), -1) for shape in shapes]
        if -1 in numbers:
            return [self.index(shape) for shape in shapes]
        return numbers

    def __len__(self) -> int:
        return len(self.shapes)


class Room:
    """Free room and occupants of a set of nodes, for the classes registered before it."""

    def __init__(self, templates: Sequence[NodeTemplate], classes: PodClasses) -> None:
        self.templates = list(templates)
        self.classes = classes
        shapes = classes.shapes
        self.names = sorted({name for shape in shapes for name in shape.request_units})
        self.allocatable = _allocatable(self.templates, self.names)
        self.free = self.allocatable.copy()
        self.requests = np.array(
            [[shape.request_units.get(name, 0) for name in self.names] for shape in shapes],
            dtype=np.int64).reshape(len(shapes), len(self.names))
        self.columns = [np.array([self.names.index(name) for name in shape.request_units],
                                 dtype=np.intp) for shape in shapes]
        self.kind, self._kind_templates = _kinds(self.templates)
        self._static: dict[int, BoolArray] = {}
        self._by_kind: dict[int, BoolArray] = {}
        self._rank: list[int] | None = None
        self.partners = _partners(shapes)
        held = sorted({b for partners in self.partners.values() for b in partners})
        self._held = np.full(len(shapes), -1, dtype=np.intp)
        self._held[held] = np.arange(len(held))
        self.holders = np.zeros((len(self.templates), len(held)), dtype=np.int64)
        """Pods per node of each class some class conflicts with (column ``_held[c]``)."""
        self.placed_like = _placed_like(shapes, self.partners)
        """Per class, the first class whose pods every node takes alike (same requests
        and node filters, and no pairwise rule on either): the simulation places
        their pods together, one walk instead of one per Deployment."""

    # -- occupying -------------------------------------------------------------

    def occupy(self, nodes: IntArray, classes: IntArray, counts: IntArray) -> None:
        """Pods already placed: ``counts[i]`` of class ``classes[i]`` on ``nodes[i]``."""
        used = np.zeros_like(self.free)
        np.add.at(used, nodes, self.requests[classes] * counts[:, None])
        self.free -= used
        held = self._held[classes]
        kept = held >= 0
        np.add.at(self.holders, (nodes[kept], held[kept]), counts[kept])

    def place(self, number: int, nodes: IntArray, counts: IntArray) -> None:
        """counts[i] more pods of class number on nodes[i] (nodes distinct)."""
        self.free[nodes] -= counts[:, None] * self.requests[number]
        column = self._held[number]
        if column >= 0:
            self.holders[nodes, column] += counts

    # -- asking ----------------------------------------------------------------

    def static_ok(self, number: int) -> BoolArray:
        """Nodes whose identity (taints, labels, name) lets class number in."""
        cached = self._static.get(number)
        if cached is None:
            shape = self.classes.shapes[number]
            if shape.reads_hostname:
                cached = np.array([node_reason(shape, t) is None for t in self.templates],
                                  dtype=np.bool_)
            else:
                cached = self.kind_ok(number)[self.kind]
            self._static[number] = cached
        return cached

    def kind_ok(self, number: int) -> BoolArray:
        """static_ok per kind of alike nodes (for a class that does not read hostnames)."""
        cached = self._by_kind.get(number)
        if cached is None:
            shape = self.classes.shapes[number]
            cached = self._by_kind[number] = np.array(
                [node_reason(shape, t) is None for t in self._kind_templates], dtype=np.bool_)
        return cached

    def closed(self, number: int, start: int, stop: int) -> BoolArray:
        """Which of nodes start..stop hold a pod of a class that class number may not
        share a node with."""
        partners = self.partners.get(number)
        if not partners:
            return np.zeros(stop - start, dtype=np.bool_)
        columns = self._held[sorted(partners)]
        shut: BoolArray = np.any(self.holders[start:stop, columns] > 0, axis=1)
        return shut

    def self_conflicting(self, number: int) -> bool:
        """Whether two pods of class number may not share a node."""
        return number in self.partners.get(number, ())

    def fit_counts(self, number: int) -> IntArray:
        """How many more pods of class number each node takes now."""
        counts: IntArray = self.counts_block([number], 0, len(self.templates))[0]
        return counts

    def counts_block(self, numbers: Sequence[int], start: int, stop: int) -> IntArray:
        """fit_counts of several classes for the nodes start..stop: (classes, nodes),
        in one pass over the arrays (a numpy call costs more than its arithmetic here)."""
        free = self.free[start:stop]
        if len(numbers) == 1:
            columns = self.columns[numbers[0]]
            best = (free[:, columns] / self.requests[numbers[0], columns]).min(axis=1)[None]
        else:
            best = np.full((len(numbers), len(free)), np.inf)
            requests = self.requests[list(numbers)]
            for column in range(len(self.names)):
                asking = np.flatnonzero(requests[:, column])
                if len(asking):
                    quotient = free[:, column] / requests[asking, column, None]
                    best[asking] = np.minimum(best[asking], quotient)
        counts: IntArray = np.maximum(np.floor(best), 0).astype(np.int64)
        ok = self._static_block(numbers, start, stop)
        for row, number in enumerate(numbers):
            if number in self.partners:
                ok[row] &= ~self.closed(number, start, stop)
                if self.self_conflicting(number):
                    np.minimum(counts[row], 1, out=counts[row])
        counts[~ok] = 0
        return counts

    def _static_block(self, numbers: Sequence[int], start: int, stop: int) -> BoolArray:
        shapes = self.classes.shapes
        plain = [row for row, n in enumerate(numbers) if not shapes[n].reads_hostname]
        ok = np.empty((len(numbers), stop - start), dtype=np.bool_)
        if plain:
            table = np.array([self.kind_ok(numbers[row]) for row in plain], dtype=np.bool_)
            ok[plain] = table[:, self.kind[start:stop]]
        for row, number in enumerate(numbers):
            if shapes[number].reads_hostname:
                ok[row] = self.static_ok(number)[start:stop]
        return ok

    def reason_on(self, number: int, node: int, extra_used: Sequence[int] | None,
                  extra_classes: Iterable[int]) -> str | None:
        """Why one more pod of class number does not fit node (with the extras)."""
        shape = self.classes.shapes[number]
        if not self.static_ok(number)[node]:
            return node_reason(shape, self.templates[node])
        requests = self.requests[number]
        for column in self.columns[number]:
            used = extra_used[column] if extra_used is not None else 0
            if self.free[node, column] - used < requests[column]:
                return insufficient(self.names[column])
        present = set(extra_classes)
        for partner in self._ordered(number):
            if partner in present or self.holders[node, self._held[partner]] > 0:
                return conflict_reason(shape, self.classes.shapes[partner])
        return None

    def reasons(self, number: int, among: BoolArray) -> Counter[str]:
        """Why one more pod of class number does not fit each node among those given,
        counted by reason (the first failing filter of each node, as ``why_not``)."""
        shape = self.classes.shapes[number]
        out: Counter[str] = Counter()
        static = self.static_ok(number)
        refused = among & ~static
        if refused.any():
            if shape.reads_hostname:
                for node in np.flatnonzero(refused):
                    out[str(node_reason(shape, self.templates[node]))] += 1
            else:
                per_kind = np.bincount(self.kind[refused], minlength=len(self._kind_templates))
                for kind in np.flatnonzero(per_kind):
                    template = self._kind_templates[kind]
                    out[str(node_reason(shape, template))] += int(per_kind[kind])
        left = among & static
        requests = self.requests[number]
        for column in self.columns[number]:
            short = left & (self.free[:, column] < requests[column])
            if short.any():
                out[insufficient(self.names[column])] += int(short.sum())
                left &= ~short
        for partner in self._ordered(number):
            held = left & (self.holders[:, self._held[partner]] > 0)
            if held.any():
                out[str(conflict_reason(shape, self.classes.shapes[partner]))] += int(held.sum())
                left &= ~held
        return out

    def first_fit_order(self, numbers: Iterable[int]) -> list[int]:
        """Classes by dominant request, largest first (first-fit decreasing).

        A class's dominant request is its largest share of the most any node here
        offers of a resource; a resource no node offers makes the share infinite
        (such pods fit nowhere, and going first costs nothing). Ties: the larger
        sum of shares, then the order classes were first seen.
        """
        if self._rank is None:
            biggest = self.allocatable.max(axis=0, initial=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                shares = np.where(self.requests > 0, self.requests / biggest, 0.0)
            order = np.lexsort((np.arange(len(shares)), -shares.sum(axis=1),
                                -shares.max(axis=1, initial=0.0)))
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            self._rank = rank.tolist()
        return sorted(numbers, key=self._rank.__getitem__)

    def _ordered(self, number: int) -> list[int]:
        """Partners of class number, those it clashes with on a port first (the
        NodePorts filter runs before InterPodAffinity)."""
        shape = self.classes.shapes[number]
        partners = sorted(self.partners.get(number, ()))
        return sorted(partners, key=lambda p: conflict_reason(
            shape, self.classes.shapes[p]) != PORTS)


def summary(reasons: Counter[str], total: int, noun: str) -> str:
    """The scheduler's FitError sentence: ``0/5 nodes are available: 2 Insufficient
    cpu, 3 node(s) had untolerated taint {gpu: }.`` (reasons sorted, as it does)."""
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return f"0/{total} {noun} are available" + (f": {parts}." if parts else ".")


def fill(counts: IntArray, need: int) -> IntArray:
    """First fit of need identical pods over bins taking counts[i] each, in order."""
    before = np.cumsum(counts) - counts
    taken: IntArray = np.clip(need - before, 0, counts)
    return taken


def _allocatable(templates: Sequence[NodeTemplate], names: Sequence[str]) -> IntArray:
    unstated = [UNSTATED if name in UNKNOWN_UNLESS_STATED else 0 for name in names]
    rows = [[t.allocatable_units.get(name, default) for name, default in zip(
        names, unstated, strict=True)] for t in templates]
    allocatable: IntArray = np.array(rows, dtype=np.int64).reshape(len(templates), len(names))
    return allocatable


def _kinds(templates: Sequence[NodeTemplate]) -> tuple[IntArray, list[NodeTemplate]]:
    """Number templates alike in the node filters; one representative of each."""
    numbers: dict[object, int] = {}
    representatives: list[NodeTemplate] = []
    kind = np.empty(len(templates), dtype=np.int64)
    for index, template in enumerate(templates):
        number = numbers.get(template.alike)
        if number is None:
            number = numbers[template.alike] = len(representatives)
            representatives.append(template)
        kind[index] = number
    return kind, representatives


def _placed_like(shapes: Sequence[PodShape], partners: dict[int, set[int]]) -> list[int]:
    first: dict[object, int] = {}
    like = []
    for number, shape in enumerate(shapes):
        if number in partners:
            like.append(number)
            continue
        key = (shape.requests, shape.node_selector, shape.node_affinity, shape.tolerations)
        like.append(first.setdefault(key, number))
    return like


def _partners(shapes: Sequence[PodShape]) -> dict[int, set[int]]:
    """Which classes may not share a node, both ways; classes without any omitted.

    Only a class with host ports or anti-affinity can start a conflict. Its ports
    are checked against the other classes with ports, and its terms against the
    classes an index by label offers (a term's first ``In`` requirement narrows
    the search to classes carrying one of its values).
    """
    by_label: dict[tuple[str, str], list[int]] = {}
    for number, shape in enumerate(shapes):
        for pair in shape.labels:
            by_label.setdefault(pair, []).append(number)
    pairwise = [n for n, shape in enumerate(shapes) if shape.pairwise]
    with_ports = [n for n in pairwise if shapes[n].host_ports]
    partners: dict[int, set[int]] = {}
    for number in pairwise:
        shape = shapes[number]
        candidates: set[int] = set(with_ports) if shape.host_ports else set()
        for term in shape.anti_affinity:
            candidates |= _selected_by(term.selector.requirements, by_label, len(shapes))
        for other in candidates:
            if conflicts(shape, shapes[other]):
                partners.setdefault(number, set()).add(other)
                partners.setdefault(other, set()).add(number)
    return partners


def _selected_by(requirements: Sequence[Requirement],
                 by_label: dict[tuple[str, str], list[int]], count: int) -> set[int]:
    for requirement in requirements:
        if requirement.operator == "In":
            return {n for value in requirement.values
                    for n in by_label.get((requirement.key, value), ())}
    return set(range(count))
