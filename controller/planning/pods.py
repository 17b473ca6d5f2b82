"""The pod as the scheduler's filters see it, and what a drain needs to know of it.

The estimator and the scale-down simulation ask "could this pod run there?" for
thousands of pods against thousands of nodes in one pass, so a pod's constraints are
parsed once, when the informer delivers it (``controller/kube/scheduling.py``), into
immutable values. Everything the modelled filters read sits in a ``PodShape``;
pods with equal shapes are interchangeable for every predicate, and the packers work
on those equivalence classes (a Deployment's replicas are one class) instead of on
pods one by one. The shape hashes once, at construction: grouping thirty thousand
pods is one dictionary lookup each.

Quantities are plain floats in the project's units (cpu in cores, memory in bytes,
extended resources in their own counts), keyed by Kubernetes resource name
(``cpu``, ``memory``, ``pods``, ``nvidia.com/gpu``, ``bamel.io/network``...).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

HOSTNAME = "kubernetes.io/hostname"
"""The topology key of per-node anti-affinity, and the label naming a node."""

Pairs = tuple[tuple[str, str], ...]
Quantities = tuple[tuple[str, float], ...]

OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


CEILING = 2**52
"""The largest quantity in scheduler units (4 PiB of memory, 4.5 billion cores): a
larger one counts as this. Below 2**53 a float64 quotient of two quantities floors
to the exact integer quotient, which lets the packers divide in floating point,
about twice as fast in numpy as integer floor division."""


def scheduler_units(name: str, value: float) -> int:
    """A quantity as the scheduler compares it: cpu in millicores, everything else
    whole, rounded up (``MilliValue`` and ``Value`` of a Kubernetes quantity), at
    most CEILING.

    Integers keep sums exact: ten pods of 100m fill a 1-core node, which float
    additions of 0.1 would not. The rounding to a millionth first absorbs the float
    error of parsing (``0.1 * 1000`` is ``100.00000000000001``).
    """
    scale = 1000 if name == "cpu" else 1
    return min(math.ceil(round(value * scale, 6)), CEILING)


@dataclass(frozen=True)
class Requirement:
    """One expression of a label or node selector (``matchExpressions`` entry)."""

    key: str
    operator: str
    """In, NotIn, Exists, DoesNotExist; Gt and Lt in node selectors only."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: NotIn and DoesNotExist match a missing key; Gt and Lt
        compare integers and fail when either side is not one."""
        value = labels.get(self.key)
        operator = self.operator
        if operator == "In":
            return value is not None and value in self.values
        if operator == "NotIn":
            return value is None or value not in self.values
        if operator == "Exists":
            return value is not None
        if operator == "DoesNotExist":
            return value is None
        if operator in ("Gt", "Lt") and value is not None and len(self.values) == 1:
            try:
                have, bound = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > bound if operator == "Gt" else have < bound
        return False


@dataclass(frozen=True)
class LabelSelector:
    """matchLabels and matchExpressions, all of which must hold; empty matches all."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, match_labels: Mapping[str, str] | None = None,
           expressions: Iterable[Requirement] = ()) -> LabelSelector:
        exact = tuple(Requirement(key, "In", (value,))
                      for key, value in sorted((match_labels or {}).items()))
        return cls(exact + tuple(expressions))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One term of required node affinity: its expressions on the node's labels and
    its fields on the node's name (``metadata.name``) must all hold. A term with
    neither matches no node, as in Kubernetes."""

    expressions: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()

    def matches(self, node_name: str, labels: Mapping[str, str]) -> bool:
        if not self.expressions and not self.fields:
            return False
        return all(e.matches(labels) for e in self.expressions) and all(
            f.matches({"metadata.name": node_name}) for f in self.fields)


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    """Equal or Exists; an empty key with Exists tolerates every taint."""
    value: str = ""
    effect: str = ""
    """Empty tolerates every effect."""


@dataclass(frozen=True)
class AntiAffinityTerm:
    """Required pod anti-affinity on ``kubernetes.io/hostname``: no pod this term
    selects may share the node."""

    selector: LabelSelector
    namespaces: frozenset[str] | None
    """Namespaces whose pods the term selects; None: every namespace."""

    def selects(self, namespace: str, labels: Mapping[str, str]) -> bool:
        in_scope = self.namespaces is None or namespace in self.namespaces
        return in_scope and self.selector.matches(labels)


@dataclass(frozen=True)
class HostPort:
    port: int
    protocol: str = "TCP"
    ip: str = ""
    """Host address the port binds; empty or 0.0.0.0 binds them all."""

    def clashes(self, other: HostPort) -> bool:
        """Same port and protocol on overlapping addresses (the NodePorts filter)."""
        if self.port != other.port or self.protocol != other.protocol:
            return False
        wildcard = ("", "0.0.0.0")
        return self.ip in wildcard or other.ip in wildcard or self.ip == other.ip

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True, eq=False)
class PodShape:
    """What the modelled scheduler filters read of a pod; equal shapes are one class.

    Build it with ``PodShape.of``, which sorts mappings into the tuples kept here, so
    that two pods from one template compare equal whatever order their fields came in.
    """

    namespace: str
    labels: Pairs = ()
    requests: Quantities = (("pods", 1.0),)
    """Every resource the pod asks for, ``pods: 1`` included; zero requests omitted."""
    node_selector: Pairs = ()
    node_affinity: tuple[NodeSelectorTerm, ...] = ()
    """Required node affinity terms, any one of which must match; () means none."""
    tolerations: tuple[Toleration, ...] = ()
    anti_affinity: tuple[AntiAffinityTerm, ...] = ()
    host_ports: tuple[HostPort, ...] = ()
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self._key()))

    def _key(self) -> tuple[object, ...]:
        return (self.namespace, self.labels, self.requests, self.node_selector,
                self.node_affinity, self.tolerations, self.anti_affinity, self.host_ports)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PodShape) or self._hash != other._hash:
            return False
        return self._key() == other._key()

    @classmethod
    def of(cls, *, namespace: str = "default", labels: Mapping[str, str] | None = None,
           requests: Mapping[str, float] | None = None,
           node_selector: Mapping[str, str] | None = None,
           node_affinity: Iterable[NodeSelectorTerm] = (),
           tolerations: Iterable[Toleration] = (),
           anti_affinity: Iterable[AntiAffinityTerm] = (),
           host_ports: Iterable[HostPort] = ()) -> PodShape:
        """A shape from mappings; ``pods: 1`` is added to the requests.

        Equal shapes come back as one object while any pod holds it, so that the
        packers group a Deployment's pods by identity (``packing.PodClasses``).
        """
        asked = {name: float(value) for name, value in (requests or {}).items() if value}
        asked["pods"] = 1.0
        shape = cls(
            namespace=namespace, labels=tuple(sorted((labels or {}).items())),
            requests=tuple(sorted(asked.items())),
            node_selector=tuple(sorted((node_selector or {}).items())),
            node_affinity=tuple(node_affinity), tolerations=tuple(tolerations),
            anti_affinity=tuple(anti_affinity),
            host_ports=tuple(sorted(host_ports, key=lambda p: (p.port, p.protocol, p.ip))))
        return _CANONICAL.setdefault(shape._key(), shape)

    @cached_property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @cached_property
    def request_map(self) -> dict[str, float]:
        return dict(self.requests)

    @cached_property
    def request_units(self) -> dict[str, int]:
        """Requests in ``scheduler_units``."""
        return {name: scheduler_units(name, value) for name, value in self.requests}

    @cached_property
    def reads_hostname(self) -> bool:
        """Whether the node filters look at the node's own name: then every node is
        its own case, not one of a class of alike nodes."""
        if any(key == HOSTNAME for key, _ in self.node_selector):
            return True
        return any(term.fields or any(e.key == HOSTNAME for e in term.expressions)
                   for term in self.node_affinity)

    @property
    def pairwise(self) -> bool:
        """Whether this shape constrains which pods it may share a node with."""
        return bool(self.anti_affinity or self.host_ports)


_CANONICAL: weakref.WeakValueDictionary[tuple[object, ...], PodShape] = (
    weakref.WeakValueDictionary())
"""One object per distinct shape, for as long as something holds it (the key is the
shape's fields, not the shape, so the entry goes when the last pod does)."""


@dataclass(frozen=True)
class Owner:
    """The controlling owner reference: who recreates the pod when it is evicted."""

    kind: str
    name: str = ""


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str
    """The volume source's field name: ``emptyDir``, ``hostPath``, ``persistentVolumeClaim``..."""


@dataclass(frozen=True, eq=False)
class Pod:
    """One pod: its shape, and what triggering a scale-up or evicting it depends on.

    Compared by identity: the informer's cache holds one Pod per pod.
    """

    namespace: str
    name: str
    shape: PodShape
    node_name: str = ""
    """The node it is bound to; empty while pending."""
    priority: int = 0
    scheduling_gated: bool = False
    """``spec.schedulingGates`` is not empty: the scheduler will not try it yet."""
    nominated_node: str = ""
    """``status.nominatedNodeName``: preemption already made room for it there."""
    owner: Owner | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    phase: str = "Pending"
    unmodelled: tuple[str, ...] = ()
    """Required constraints the predicates do not model (pod affinity, anti-affinity
    on another topology key, topology spread with DoNotSchedule...), in words."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
