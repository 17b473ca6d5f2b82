"""Pending pods are detected from the real scheduler's Unschedulable condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client, config, watch

from controller.config.schema import PoolSpec, Taint
from controller.kube.client import KubeClient, api_path
from controller.kube.pending import PendingSnapshot, PendingTracker
from controller.kube.watching import Informer
from lab.controlplane import ControlPlane
from tests.kube.conftest import pod

pytestmark = pytest.mark.integration

POOLS = [
    PoolSpec(name="small", labels={"bamel.io/pool": "small"}),
    PoolSpec(name="gpu", labels={"bamel.io/pool": "gpu"},
             taints=[Taint(key="bamel.io/gpu", effect="NoSchedule")]),
]


async def _unschedulable_seen(kubeconfig: str, namespace: str, name: str) -> float:
    """Monotonic time at which an independent watch shows the pod Unschedulable."""
    api = await config.new_client_from_config(config_file=kubeconfig)
    try:
        core = client.CoreV1Api(api)
        async with watch.Watch().stream(core.list_namespaced_pod, namespace,
                                        field_selector=f"metadata.name={name}") as stream:
            async for event in stream:
                for condition in event["object"].status.conditions or []:
                    if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                        return time.monotonic()
    finally:
        await api.close()
    raise AssertionError("watch ended")


async def _next_with(tracker: PendingTracker, key: str) -> PendingSnapshot:
    while True:
        snapshot = await tracker.snapshots.get()
        if key in snapshot.new:
            return snapshot


async def test_too_big_pod_is_pending_within_a_second_and_fitting_pod_is_not(
    control_plane: ControlPlane, kube: KubeClient, namespace: str,
    hollow: Callable[..., Any],
) -> None:
    await hollow(capacity={"cpu": "4", "memory": "8Gi"})
    tracker = PendingTracker(POOLS)
    informer = Informer(kube, api_version="v1", plural="pods", namespace=namespace)
    informer.on_change(tracker.observe)
    await informer.start()
    await tracker.start()
    try:
        witness = asyncio.create_task(
            _unschedulable_seen(str(control_plane.kubeconfig), namespace, "huge"))
        await kube.request("POST", api_path("v1", "pods", namespace=namespace),
                           body=pod("fits", cpu="500m"))
        await kube.request("POST", api_path("v1", "pods", namespace=namespace),
                           body=pod("huge", cpu="64", memory="1Gi"))
        snapshot = await asyncio.wait_for(_next_with(tracker, f"{namespace}/huge"), 30)
        condition_seen = await asyncio.wait_for(witness, 5)
        assert snapshot.at - condition_seen < 1.0
        small = snapshot.pools["small"]
        assert [p.key for p in small.pods] == [f"{namespace}/huge"]
        assert small.requests["cpu"] == 64.0
        assert small.requests["memory"] == 2**30
        assert snapshot.pools["gpu"].pods == ()  # no toleration for the gpu taint
        fitting = await kube.request("GET", api_path("v1", "pods", namespace=namespace,
                                                      name="fits"))
        for _ in range(50):
            if fitting["spec"].get("nodeName"):
                break
            await asyncio.sleep(0.1)
            fitting = await kube.request("GET", api_path("v1", "pods", namespace=namespace,
                                                          name="fits"))
        assert fitting["spec"].get("nodeName")
        assert f"{namespace}/fits" not in tracker.pending
    finally:
        await tracker.close()
        await informer.close()


async def test_a_burst_counts_once_and_daemonset_pods_are_ignored(
    kube: KubeClient, namespace: str,
) -> None:
    tracker = PendingTracker(POOLS, window=0.5)
    informer = Informer(kube, api_version="v1", plural="pods", namespace=namespace)
    informer.on_change(tracker.observe)
    await informer.start()
    await tracker.start()
    try:
        tolerant = {"tolerations": [{"key": "bamel.io/gpu", "operator": "Exists"}],
                    "nodeSelector": {"bamel.io/pool": "gpu"}}
        await asyncio.gather(*(
            kube.request("POST", api_path("v1", "pods", namespace=namespace),
                         body=pod(f"burst-{i}", cpu="100", **tolerant))
            for i in range(5)))
        snapshot = await asyncio.wait_for(tracker.snapshots.get(), 30)
        while len(tracker.pending) < 5:  # noqa: ASYNC110 - the rest of a slow burst
            await asyncio.sleep(0.1)
        assert len(snapshot.new) >= 3
        gpu = tracker.snapshot().pools["gpu"]
        assert len(gpu.pods) == 5
        assert gpu.requests["cpu"] == 500.0
        assert tracker.snapshot().pools["small"].pods == ()
    finally:
        await tracker.close()
        await informer.close()


def test_daemonset_pods_are_not_pending() -> None:
    from controller.kube.watching import Change

    tracker = PendingTracker(POOLS)
    daemon = pod("ds-x", cpu="100")
    daemon["metadata"].update(namespace="n", ownerReferences=[
        {"kind": "DaemonSet", "name": "ds", "controller": True, "apiVersion": "apps/v1",
         "uid": "1"}])
    daemon["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    tracker.observe(Change("ADDED", daemon, None))
    assert tracker.pending == {}
