"""Pods, Nodes and PodDisruptionBudgets from the API's JSON into the planning model.

The planning layer (``controller/planning``) decides over immutable values and never
reads JSON; this module is the one place that knows the API's field names. Parse a
pod once, when the informer delivers it, and keep the ``Pod``: its shape hashes at
construction, so the estimator and the scale-down simulation group thousands of
pods into classes at a dictionary lookup each.

Requests are summed the way the scheduler does (``PodRequests``): the containers,
plus restartable init containers (sidecars), against the largest of each ordinary
init container with the sidecars started before it, plus the pod's overhead.
Resource names are the Kubernetes ones, extended resources included, plus
``pods: 1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.config.schema import RESOURCES, PoolSpec
from controller.config.units import parse_quantity
from controller.planning.disruption import DisruptionBudget
from controller.planning.pods import (
    HOSTNAME,
    AntiAffinityTerm,
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    Owner,
    Pod,
    PodShape,
    Requirement,
    Toleration,
    Volume,
)
from controller.planning.predicates import pool_reason
from controller.planning.scaledown import NodeState
from controller.planning.templates import RESOURCE_KEYS, NodeTemplate, Taint, pool_template

JSON = dict[str, Any]

__all__ = [
    "JSON", "RESOURCE_KEYS", "is_daemonset_pod", "is_unschedulable", "label_selector",
    "learned_from_node", "node_state", "node_template", "owner_kind", "parse_budget",
    "parse_pod", "pod_requests", "pool_can_host", "requests_of",
]

UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
"""What a cordon means to the scheduler (the taint the node controller adds for it)."""
VOLUME_TOPOLOGY = ("persistentVolumeClaim", "ephemeral")
"""Volumes whose PersistentVolume may be bound to a node or zone: not modelled."""


def pod_requests(pod: JSON) -> dict[str, float]:
    """Requests over RESOURCES: cpu in cores, memory in bytes, network in bit/s, gpu count."""
    total = requests_of(pod.get("spec", {}))
    return {name: total.get(RESOURCE_KEYS[name], 0.0) for name in RESOURCES}


def requests_of(spec: Mapping[str, Any]) -> dict[str, float]:
    """Every resource the pod requests, by Kubernetes name, as the scheduler sums them."""
    total = _add({}, *(_requests(c) for c in spec.get("containers") or []))
    sidecars: dict[str, float] = {}
    init_peak: dict[str, float] = {}
    for init in spec.get("initContainers") or []:
        own = _requests(init)
        if init.get("restartPolicy") == "Always":
            total = _add(total, own)
            sidecars = _add(sidecars, own)
            during = sidecars
        else:
            during = _add(sidecars, own)
        init_peak = _max(init_peak, during)
    total = _max(total, init_peak)
    overhead = {name: parse_quantity(value) for name, value in (spec.get("overhead") or {}).items()}
    return _add(total, overhead)


def _requests(container: Mapping[str, Any]) -> dict[str, float]:
    asked = (container.get("resources") or {}).get("requests") or {}
    return {name: parse_quantity(value) for name, value in asked.items()}


def _add(*parts: Mapping[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0.0) + value
    return total


def _max(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    return {name: max(a.get(name, 0.0), b.get(name, 0.0)) for name in {*a, *b}}


def pool_can_host(pod: JSON, pool: PoolSpec) -> bool:
    """Whether a node of pool may pass the pod's node filters: nothing in the pool's
    own labels and taints rules it out (``predicates.pool_reason``); which of its
    machines would is the scale-up estimate's to say."""
    return pool_reason(parse_pod(pod).shape, pool_template(pool)) is None


def parse_pod(pod: JSON) -> Pod:
    """The planning model of a pod (its spec as the API server stores it)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    namespace = str(meta.get("namespace") or "default")
    affinity = spec.get("affinity") or {}
    anti, unmodelled = _anti_affinity(affinity, namespace)
    unmodelled += _unmodelled(spec, affinity)
    shape = PodShape.of(
        namespace=namespace, labels=meta.get("labels") or {}, requests=requests_of(spec),
        node_selector=spec.get("nodeSelector") or {},
        node_affinity=_node_affinity(affinity),
        tolerations=[_toleration(t) for t in spec.get("tolerations") or []],
        anti_affinity=anti, host_ports=_host_ports(spec))
    return Pod(
        namespace=namespace, name=str(meta.get("name") or ""), shape=shape,
        node_name=str(spec.get("nodeName") or ""), priority=int(spec.get("priority") or 0),
        scheduling_gated=bool(spec.get("schedulingGates")),
        nominated_node=str(status.get("nominatedNodeName") or ""),
        owner=_owner(meta), annotations=dict(meta.get("annotations") or {}),
        volumes=tuple(_volume(v) for v in spec.get("volumes") or []),
        phase=str(status.get("phase") or "Pending"), unmodelled=tuple(unmodelled))


def _owner(meta: Mapping[str, Any]) -> Owner | None:
    for reference in meta.get("ownerReferences") or []:
        if reference.get("controller"):
            return Owner(str(reference.get("kind")), str(reference.get("name") or ""))
    return None


def _volume(volume: Mapping[str, Any]) -> Volume:
    kinds = [key for key in volume if key != "name"]
    return Volume(str(volume.get("name") or ""), kinds[0] if kinds else "")


def _toleration(toleration: Mapping[str, Any]) -> Toleration:
    return Toleration(key=str(toleration.get("key") or ""),
                      operator=str(toleration.get("operator") or "Equal"),
                      value=str(toleration.get("value") or ""),
                      effect=str(toleration.get("effect") or ""))


def _requirements(expressions: Iterable[Mapping[str, Any]]) -> tuple[Requirement, ...]:
    return tuple(Requirement(str(e.get("key") or ""), str(e.get("operator") or ""),
                             tuple(str(v) for v in e.get("values") or ()))
                 for e in expressions)


def label_selector(selector: Mapping[str, Any] | None) -> LabelSelector | None:
    """A label selector; None for a null one (which selects nothing)."""
    if selector is None:
        return None
    return LabelSelector.of(selector.get("matchLabels") or {},
                            _requirements(selector.get("matchExpressions") or []))


def _node_affinity(affinity: Mapping[str, Any]) -> list[NodeSelectorTerm]:
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    return [NodeSelectorTerm(_requirements(term.get("matchExpressions") or []),
                             _requirements(term.get("matchFields") or []))
            for term in required.get("nodeSelectorTerms") or []]


def _anti_affinity(affinity: Mapping[str, Any], namespace: str
                   ) -> tuple[list[AntiAffinityTerm], list[str]]:
    """Hostname terms as the model's; terms on other topology keys, in words."""
    terms, unmodelled = [], []
    required = (affinity.get("podAntiAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or []
    for term in required:
        selector = label_selector(term.get("labelSelector"))
        if selector is None:
            continue  # a null selector selects no pod: the term constrains nothing
        key = term.get("topologyKey") or ""
        if key != HOSTNAME:
            unmodelled.append(f"pod anti-affinity on topology key {key}")
            continue
        terms.append(AntiAffinityTerm(selector, _namespaces(term, namespace)))
    return terms, unmodelled


def _namespaces(term: Mapping[str, Any], namespace: str) -> frozenset[str] | None:
    """The namespaces a term selects pods in. A namespaceSelector would need the
    namespaces' labels: any namespaceSelector is read as every namespace, which can
    only find more conflicts than there are, never fewer."""
    if term.get("namespaceSelector") is not None:
        return None
    return frozenset(term.get("namespaces") or [namespace])


def _unmodelled(spec: Mapping[str, Any], affinity: Mapping[str, Any]) -> list[str]:
    said = []
    if (affinity.get("podAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"):
        said.append("required pod affinity")
    for constraint in spec.get("topologySpreadConstraints") or []:
        if constraint.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule":
            said.append(f"topology spread on {constraint.get('topologyKey')}")
    for volume in spec.get("volumes") or []:
        for kind in VOLUME_TOPOLOGY:
            if kind in volume:
                said.append(f"volume topology of {kind} volume {volume.get('name')}")
    return said


def _host_ports(spec: Mapping[str, Any]) -> list[HostPort]:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return [HostPort(int(port["hostPort"]), str(port.get("protocol") or "TCP"),
                     str(port.get("hostIP") or ""))
            for container in containers for port in container.get("ports") or []
            if port.get("hostPort")]


def node_template(node: JSON) -> NodeTemplate:
    """A live Node as the scheduler's filters see it; a cordon is its taint."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    allocatable, labels = learned_from_node(node)
    taints = [Taint(str(t.get("key") or ""), str(t.get("value") or ""),
                    str(t.get("effect") or "")) for t in spec.get("taints") or []]
    if spec.get("unschedulable") and UNSCHEDULABLE_TAINT not in taints:
        taints.append(UNSCHEDULABLE_TAINT)
    return NodeTemplate(name=str(meta.get("name") or ""), allocatable=allocatable,
                        labels=labels, taints=tuple(taints))


def learned_from_node(node: JSON) -> tuple[dict[str, float], dict[str, str]]:
    """The Node's ``status.allocatable`` (parsed) and labels: what a machine's
    template learns, to keep with its record for when it is off."""
    allocatable = {name: parse_quantity(value) for name, value in
                   ((node.get("status") or {}).get("allocatable") or {}).items()}
    return allocatable, dict((node.get("metadata") or {}).get("labels") or {})


def node_state(node: JSON, pods: Iterable[Pod]) -> NodeState:
    """A ready Node and the pods bound to it, for the scale-down simulation."""
    annotations = dict((node.get("metadata") or {}).get("annotations") or {})
    return NodeState(node_template(node), tuple(pods), annotations)


def parse_budget(pdb: JSON, *, api_version: str = "policy/v1") -> DisruptionBudget:
    """A PodDisruptionBudget of the given API version (list items carry none).

    An empty selector selects every pod of the namespace in policy/v1 and none in
    policy/v1beta1. A budget whose status is older than its spec allows nothing: the
    Eviction API refuses evictions until the disruption controller has caught up.
    """
    meta = pdb.get("metadata") or {}
    status = pdb.get("status") or {}
    raw = (pdb.get("spec") or {}).get("selector")
    selector = label_selector(raw)
    if api_version == "policy/v1beta1" and raw is not None and not raw:
        selector = None
    allowed = int(status.get("disruptionsAllowed") or 0)
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        allowed = 0
    return DisruptionBudget(namespace=str(meta.get("namespace") or "default"),
                            name=str(meta.get("name") or ""), selector=selector,
                            disruptions_allowed=allowed)


def is_unschedulable(pod: JSON) -> bool:
    """Pending, unbound, not terminating, and marked Unschedulable by the scheduler."""
    if pod.get("spec", {}).get("nodeName") or pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    status = pod.get("status", {})
    if status.get("phase", "Pending") != "Pending":
        return False
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False"
               and c.get("reason") == "Unschedulable" for c in status.get("conditions", []))


def owner_kind(obj: JSON) -> str | None:
    """Kind of the controlling owner (``ReplicaSet``, ``DaemonSet``...), or None."""
    owner = _owner(obj.get("metadata") or {})
    return owner.kind if owner else None


def is_daemonset_pod(pod: JSON) -> bool:
    return owner_kind(pod) == "DaemonSet"
