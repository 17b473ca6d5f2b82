"""Would a pool's nodes accept this pod? Pure functions over pod JSON and PoolSpec.

The scheduler has already said the pod fits on no existing node; the autoscaler
must decide which pool, once powered on, could take it. This mirrors the
scheduler's filters that depend on the node's identity rather than its load:
nodeSelector, required node affinity, and taints against tolerations.
Requests are summed the way the scheduler does: the larger of the sum over
containers and the largest init container.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.config.schema import RESOURCES, PoolSpec, Taint
from controller.config.units import parse_quantity

JSON = dict[str, Any]

RESOURCE_KEYS: dict[str, str] = {
    "cpu": "cpu", "memory": "memory", "network": "bamel.io/network", "gpu": "nvidia.com/gpu",
}
"""Pod resource name behind each of RESOURCES (network is an extended resource)."""


def pod_requests(pod: JSON) -> dict[str, float]:
    """Requests over RESOURCES: cpu in cores, memory in bytes, network in bit/s, gpu count."""
    spec = pod.get("spec", {})
    total = _sum(c.get("resources", {}).get("requests", {}) for c in spec.get("containers", []))
    for init in spec.get("initContainers", []):
        single = _sum([init.get("resources", {}).get("requests", {})])
        total = {name: max(total[name], single[name]) for name in RESOURCES}
    return total


def _sum(requests: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    total = dict.fromkeys(RESOURCES, 0.0)
    for request in requests:
        for name, key in RESOURCE_KEYS.items():
            if key in request:
                total[name] += parse_quantity(request[key])
    return total


def pool_can_host(pod: JSON, pool: PoolSpec) -> bool:
    """Whether a node of pool (its labels and taints) passes the pod's node filters."""
    spec = pod.get("spec", {})
    selector: Mapping[str, str] = spec.get("nodeSelector") or {}
    if any(pool.labels.get(key) != value for key, value in selector.items()):
        return False
    if not _affinity_matches(spec.get("affinity") or {}, pool.labels):
        return False
    tolerations = spec.get("tolerations") or []
    return all(_tolerated(taint, tolerations) for taint in pool.taints
               if taint.effect in ("NoSchedule", "NoExecute"))


def _tolerated(taint: Taint, tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = toleration.get("key") or ""
        if toleration.get("operator") == "Exists":
            if not key or key == taint.key:
                return True
        elif key == taint.key and (toleration.get("value") or "") == taint.value:
            return True
    return False


def _affinity_matches(affinity: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(all(_expression_matches(expr, labels)
                   for expr in term.get("matchExpressions") or []) for term in terms)


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False  # Gt/Lt on pool labels: not worth guessing, the pool is not offered


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
    for owner in obj.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return str(owner.get("kind"))
    return None


def is_daemonset_pod(pod: JSON) -> bool:
    return owner_kind(pod) == "DaemonSet"
