"""Could this pod run on that node? The scheduler's filters, as pure functions.

One owner for every rule the estimator, the scale-down simulation and the pending
tracker apply: the packers call the same functions on classes of pods and nodes
(``controller/planning/packing.py``), and ``why_not`` composes them for one pod on
one node. Filters, in the order a node is tried (the first failure is its reason):

1. taints against tolerations (TaintToleration; NoSchedule and NoExecute only);
2. nodeSelector and required node affinity (NodeAffinity: In, NotIn, Exists,
   DoesNotExist, Gt, Lt on labels; ``metadata.name`` fields);
3. requests of every resource against allocatable less what is placed there
   (NodeResourcesFit; ``pods`` counts as a resource);
4. host ports (NodePorts);
5. required pod anti-affinity on ``kubernetes.io/hostname``, both the pod's own terms
   and those of the pods already there (InterPodAffinity).

Reasons are the scheduler's own words, so that an operator reading an Event or
``bamel explain`` recognises them from ``kubectl describe pod``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from controller.planning.pods import HostPort, NodeSelectorTerm, Pod, PodShape, Toleration
from controller.planning.templates import NodeTemplate, Taint

UNKNOWN_UNLESS_STATED = frozenset({"ephemeral-storage"})
"""Resources a template may not state: a machine's configuration says nothing of its
disk. Unstated, they do not constrain; any other unstated resource is zero."""

NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
PORTS = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
KEEP_OFF = frozenset({"NoSchedule", "NoExecute"})


def insufficient(resource: str) -> str:
    return TOO_MANY_PODS if resource == "pods" else f"Insufficient {resource}"


def untolerated(taint: Taint) -> str:
    return f"node(s) had untolerated taint {taint}"


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and toleration.value == taint.value


def taint_reason(shape: PodShape, taints: Iterable[Taint]) -> str | None:
    """The first taint that keeps the pod off, in the scheduler's words."""
    for taint in taints:
        if taint.effect in KEEP_OFF and not any(tolerates(t, taint) for t in shape.tolerations):
            return untolerated(taint)
    return None


def affinity_reason(shape: PodShape, node_name: str, labels: Mapping[str, str]) -> str | None:
    """nodeSelector (every pair) and required node affinity (any one term)."""
    if any(labels.get(key) != value for key, value in shape.node_selector):
        return NODE_AFFINITY
    terms = shape.node_affinity
    if terms and not any(term.matches(node_name, labels) for term in terms):
        return NODE_AFFINITY
    return None


def node_reason(shape: PodShape, template: NodeTemplate) -> str | None:
    """The filters that read only the node's identity (labels, taints, name)."""
    return taint_reason(shape, template.taints) or affinity_reason(
        shape, template.name, template.labels)


def pool_reason(shape: PodShape, pool: NodeTemplate) -> str | None:
    """``node_reason`` against a pool's template (``templates.pool_template``), which
    knows the labels and taints every node of the pool has, but not each machine's
    own (its hostname, the labels its kubelet reports): a requirement on a label the
    pool does not set is left to the machines' templates, so a pool is ruled out
    only by what contradicts the pool itself."""
    known = pool.labels
    reason = taint_reason(shape, pool.taints)
    if reason is not None:
        return reason
    if any(key in known and known[key] != value for key, value in shape.node_selector):
        return NODE_AFFINITY
    terms = shape.node_affinity
    if terms and not any(_may_match(term, known) for term in terms):
        return NODE_AFFINITY
    return None


def _may_match(term: NodeSelectorTerm, known: Mapping[str, str]) -> bool:
    """The term's expressions on the keys known hold (a term of nothing matches nothing)."""
    return bool(term.expressions or term.fields) and all(
        requirement.matches(known) for requirement in term.expressions
        if requirement.key in known)


def resource_reason(shape: PodShape, template: NodeTemplate,
                    used: Mapping[str, int]) -> str | None:
    """The first resource whose request exceeds allocatable less ``used``
    (both in ``scheduler_units``)."""
    allocatable = template.allocatable_units
    for name, asked in shape.request_units.items():
        have = allocatable.get(name)
        if have is None and name in UNKNOWN_UNLESS_STATED:
            continue
        if used.get(name, 0) + asked > (have or 0):
            return insufficient(name)
    return None


def clashing_port(incoming: PodShape, present: PodShape) -> HostPort | None:
    for mine in incoming.host_ports:
        for theirs in present.host_ports:
            if mine.clashes(theirs):
                return mine
    return None


def conflict_reason(incoming: PodShape, present: PodShape) -> str | None:
    """Why incoming may not share a node with present: a host port both bind, or an
    anti-affinity term of either that selects the other. Symmetric in effect: a
    conflict one way is a conflict the other way, with its own words."""
    if incoming.host_ports and present.host_ports and clashing_port(incoming, present):
        return PORTS
    if any(t.selects(present.namespace, present.label_map) for t in incoming.anti_affinity):
        return ANTI_AFFINITY
    if any(t.selects(incoming.namespace, incoming.label_map) for t in present.anti_affinity):
        return EXISTING_ANTI_AFFINITY
    return None


def conflicts(a: PodShape, b: PodShape) -> bool:
    """Whether pods of shapes a and b may not share a node (either way round)."""
    if not (a.pairwise or b.pairwise):
        return False
    return conflict_reason(a, b) is not None


def used_units(pods: Iterable[Pod]) -> dict[str, int]:
    """The summed requests of pods, in ``scheduler_units``."""
    used: dict[str, int] = {}
    for pod in pods:
        for name, asked in pod.shape.request_units.items():
            used[name] = used.get(name, 0) + asked
    return used


def why_not(pod: Pod, template: NodeTemplate, placed: Sequence[Pod] = ()) -> str | None:
    """Why pod cannot run on template's node beside the pods placed there; None if it can.

    Pairwise reasons name the pod in the way (``...anti-affinity rules: pod ns/x``,
    ``...ports: 8080/TCP in use by pod ns/x``).
    """
    shape = pod.shape
    reason = node_reason(shape, template) or resource_reason(shape, template, used_units(placed))
    if reason is not None:
        return reason
    for other in placed:
        port = clashing_port(shape, other.shape)
        if port is not None:
            return f"{PORTS}: {port} in use by pod {other.key}"
    for other in placed:
        clash = conflict_reason(shape, other.shape)
        if clash is not None:
            return f"{clash}: pod {other.key}"
    return None


def fits(pod: Pod, template: NodeTemplate, placed: Sequence[Pod] = ()) -> bool:
    """Whether pod can run on template's node beside the pods placed there."""
    return why_not(pod, template, placed) is None
