"""Least privilege, asked of the real authorizer with ``kubectl auth can-i --as=<the SA>``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.ship.shipped import AGENT_SA, CONTROLLER_SA, NAMESPACE, Kubectl, Manifest

pytestmark = pytest.mark.integration

ALLOWED = [
    # pending pods and drains
    "list pods --all-namespaces", "watch pods --all-namespaces", "get pods -n default",
    "create pods --subresource=eviction -n default",
    "list poddisruptionbudgets.policy --all-namespaces",
    # joining and cordoning
    "get nodes", "watch nodes", "patch nodes",
    # the inventory and machine records
    "list baremetalnodes.bamel.io", "create baremetalnodes.bamel.io",
    "patch baremetalnodes.bamel.io --subresource=status",
    "update baremetalnodes.bamel.io --subresource=status",
    "watch nodepools.bamel.io", "patch nodepools.bamel.io --subresource=status",
    # its own namespace: leader election, configuration, credentials, events
    f"create leases.coordination.k8s.io -n {NAMESPACE}",
    f"get leases.coordination.k8s.io/bamel-controller -n {NAMESPACE}",
    f"update leases.coordination.k8s.io/bamel-controller -n {NAMESPACE}",
    f"watch configmaps -n {NAMESPACE}", f"get secrets/bmc-cpu-heavy-1 -n {NAMESPACE}",
    f"create events -n {NAMESPACE}", f"patch events.events.k8s.io -n {NAMESPACE}",
    # image warm-up pods after a join, in its own namespace only
    f"create pods -n {NAMESPACE}", f"delete pods -n {NAMESPACE}",
    # Events of Nodes and BareMetalNodes, which the API server keeps in default
    "create events -n default",
    # NotTriggerScaleUp on a pending pod, in the pod's own namespace
    "create events -n team-a", "create events -n kube-system",
]

DENIED = [
    "delete nodes", "update nodes", "create nodes",
    "create pods --subresource=exec -n default", f"create pods --subresource=exec -n {NAMESPACE}",
    "get pods --subresource=log -n default", "delete pods -n default", "create pods -n default",
    "get secrets -n kube-system", "get secrets -n default", "list secrets --all-namespaces",
    f"list secrets -n {NAMESPACE}", f"update secrets -n {NAMESPACE}",
    "delete baremetalnodes.bamel.io", "delete nodepools.bamel.io",
    f"update leases.coordination.k8s.io/someone-else -n {NAMESPACE}",
    "patch events -n team-a", "update configmaps -n default",
    "create clusterrolebindings.rbac.authorization.k8s.io",
]


def answers(kubectl: Kubectl, user: str, actions: list[str]) -> dict[str, bool]:
    """Each action → the authorizer's yes or no (a few kubectl processes at a time)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = pool.map(lambda action: kubectl.can_i(user, *action.split()), actions)
        return dict(zip(actions, replies, strict=True))


def test_controller_can_do_its_job(kubectl: Kubectl, installed: list[Manifest]) -> None:
    refused = [a for a, yes in answers(kubectl, CONTROLLER_SA, ALLOWED).items() if not yes]
    assert refused == []


def test_controller_can_do_nothing_more(kubectl: Kubectl, installed: list[Manifest]) -> None:
    granted = [a for a, yes in answers(kubectl, CONTROLLER_SA, DENIED).items() if yes]
    assert granted == []


def test_agent_has_no_rights_at_all(kubectl: Kubectl, installed: list[Manifest]) -> None:
    """It never talks to the API server, so its pods do not even mount a token."""
    actions = ["list pods --all-namespaces", "get nodes", f"get secrets -n {NAMESPACE}",
               "list baremetalnodes.bamel.io", f"get configmaps -n {NAMESPACE}"]
    granted = [a for a, yes in answers(kubectl, AGENT_SA, actions).items() if yes]
    assert granted == []
