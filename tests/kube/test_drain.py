"""Drain through the Eviction API with a real PodDisruptionBudget controller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.draining import SCALE_DOWN_DISABLED, Drainer, DrainSettings
from controller.kube.errors import DrainRefused, KubeTimeout
from controller.kube.nodes import get_node, patch_node
from controller.kube.resources import EventRecorder
from tests.kube.conftest import pod

pytestmark = pytest.mark.integration


async def _replicaset(kube: KubeClient, namespace: str, label: str, replicas: int) -> None:
    template = pod("web", nodeSelector={"drain-test": label})
    template["metadata"] = {"labels": {"app": "web"}}
    await kube.request("POST", api_path("apps/v1", "replicasets", namespace=namespace), body={
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": template}})


async def _pdb(kube: KubeClient, namespace: str, min_available: int) -> None:
    await kube.request("POST", api_path("policy/v1beta1", "poddisruptionbudgets",
                                        namespace=namespace), body={
        "metadata": {"name": "web"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}}})
    for _ in range(100):  # the disruption controller must have counted the pods
        pdb = await kube.request("GET", api_path(
            "policy/v1beta1", "poddisruptionbudgets", namespace=namespace, name="web"))
        if pdb.get("status", {}).get("currentHealthy", 0) >= min_available:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"PDB never saw {min_available} healthy pods")


async def _running_on(kube: KubeClient, namespace: str, node: str) -> list[str]:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return [p["metadata"]["name"] for p in pods["items"]
            if p["spec"].get("nodeName") == node and p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


async def _wait_running(kube: KubeClient, namespace: str, node: str, count: int) -> None:
    for _ in range(150):
        if len(await _running_on(kube, namespace, node)) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{count} pods never ran on {node}")


async def test_pdb_blocks_until_timeout_then_drains_with_room(
    kube: KubeClient, namespace: str, hollow: Callable[..., Any],
) -> None:
    first = await hollow(labels={"drain-test": namespace})
    await _replicaset(kube, namespace, namespace, replicas=2)
    await _wait_running(kube, namespace, first.name, 2)
    await _pdb(kube, namespace, min_available=2)
    drainer = Drainer(kube, events=EventRecorder(kube))
    assert await drainer.eviction_version() == "policy/v1beta1"  # a 1.20 server

    with pytest.raises(KubeTimeout):
        await drainer.drain(first.name, DrainSettings(timeout=3, retry_initial=0.2))
    node = await get_node(kube, first.name)
    assert not node["spec"].get("unschedulable")
    assert len(await _running_on(kube, namespace, first.name)) == 2
    events = await kube.request("GET", "/api/v1/namespaces/default/events",
                                query={"fieldSelector": f"involvedObject.name={first.name}"})
    assert "DrainTimeout" in [e["reason"] for e in events["items"]]

    second = await hollow(labels={"drain-test": namespace})
    await kube.request("PATCH", api_path("policy/v1beta1", "poddisruptionbudgets",
                                         namespace=namespace, name="web"),
                       body={"spec": {"minAvailable": 1}},
                       content_type="application/merge-patch+json")
    evicted = await drainer.drain(first.name, DrainSettings(timeout=60, retry_initial=0.2))
    assert evicted == 2
    assert await _running_on(kube, namespace, first.name) == []
    await _wait_running(kube, namespace, second.name, 2)
    assert (await get_node(kube, first.name))["spec"]["unschedulable"] is True


async def test_refusals(kube: KubeClient, namespace: str, hollow: Callable[..., Any]) -> None:
    node = await hollow(labels={"drain-test": namespace})
    drainer = Drainer(kube, events=EventRecorder(kube))
    settings = DrainSettings(timeout=5)
    await patch_node(kube, node.name, {"metadata": {"annotations": {SCALE_DOWN_DISABLED: "1"}}})
    with pytest.raises(DrainRefused, match="scale-down-disabled"):
        await drainer.drain(node.name, settings)
    await patch_node(kube, node.name, {"metadata": {"annotations": {SCALE_DOWN_DISABLED: None}}})
    await kube.request("POST", api_path("v1", "pods", namespace=namespace),
                       body=pod("bare", nodeName=node.name))
    with pytest.raises(DrainRefused, match="no controller"):
        await drainer.drain(node.name, settings)
    assert not (await get_node(kube, node.name))["spec"].get("unschedulable")
