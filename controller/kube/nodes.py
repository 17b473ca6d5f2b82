"""Node operations the controller needs: read, Ready, labels, taints, cordon.

Taint edits read the node and write the whole list back with its
resourceVersion: a concurrent change (the node-lifecycle controller adds and
removes its own taints) makes the write fail with 409 and the edit is redone,
instead of one writer silently dropping the other's taint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.kube.client import JSON, MERGE_PATCH, KubeClient, api_path
from controller.kube.errors import KubeConflict

UNCONFIRMED_TAINT = "bamel.io/unconfirmed"
"""A powered-on machine's kubelet registers with this NoSchedule taint; the controller
removes it once the node is Ready and labelled, so nothing lands on it too early."""

_RETRIES = 5


def node_path(name: str) -> str:
    return api_path("v1", "nodes", name=name)


def ready_condition(node: JSON) -> JSON | None:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def is_ready(node: JSON) -> bool:
    condition = ready_condition(node)
    return condition is not None and condition.get("status") == "True"


def internal_ips(node: JSON) -> tuple[str, ...]:
    """The InternalIP addresses a Node reports, in its order."""
    return tuple(str(address["address"])
                 for address in (node.get("status") or {}).get("addresses") or ()
                 if address.get("type") == "InternalIP" and address.get("address"))


async def get_node(client: KubeClient, name: str) -> JSON:
    return await client.request("GET", node_path(name))


async def patch_node(client: KubeClient, name: str, patch: JSON) -> JSON:
    return await client.request("PATCH", node_path(name), body=patch,
                                content_type=MERGE_PATCH)


async def set_cordoned(client: KubeClient, name: str, cordoned: bool) -> JSON:
    return await patch_node(client, name, {"spec": {"unschedulable": cordoned or None}})


async def edit_taints(
    client: KubeClient, name: str, edit: Callable[[list[JSON]], list[JSON]],
) -> JSON:
    """Replace the node's taints with edit(taints), retrying on a concurrent change."""
    for attempt in range(_RETRIES):
        node = await get_node(client, name)
        taints = node.get("spec", {}).get("taints") or []
        wanted = edit([dict(t) for t in taints])
        if wanted == taints:
            return node
        patch: dict[str, Any] = {
            "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
            "spec": {"taints": wanted or None},
        }
        try:
            return await patch_node(client, name, patch)
        except KubeConflict:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")
