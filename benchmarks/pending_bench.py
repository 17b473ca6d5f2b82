"""Pending-pod detection latency on the real control plane.

From the moment the scheduler's Unschedulable condition is visible (an independent
watch sees it) to the moment the PendingTracker publishes a snapshot naming the
pod; 100 pods, created one at a time. The batch window (0.3 s) is part of the
figure on purpose: it is the price of counting a burst once.
"""

from __future__ import annotations

import asyncio
import time

from controller.config.schema import PoolSpec
from controller.kube.client import KubeClient, api_path
from controller.kube.pending import PendingTracker
from controller.kube.scheduling import is_unschedulable
from controller.kube.watching import Change, Informer
from lab.controlplane import BINARIES, ControlPlane

PODS = 100
NAMESPACE = "bench"


def _pod(index: int) -> dict[str, object]:
    return {"metadata": {"name": f"p{index}"}, "spec": {"containers": [
        {"name": "main", "image": "registry.invalid/pause:1",
         "resources": {"requests": {"cpu": "1000"}}}]}}


async def _measure(kubeconfig: str) -> list[float]:
    kube = await KubeClient.connect(kubeconfig)
    await kube.request("POST", api_path("v1", "namespaces"), body={"metadata": {"name": NAMESPACE}})
    tracker = PendingTracker([PoolSpec(name="general")])
    informer = Informer(kube, api_version="v1", plural="pods", namespace=NAMESPACE)
    witness = Informer(kube, api_version="v1", plural="pods", namespace=NAMESPACE)
    seen: dict[str, float] = {}

    def witness_change(change: Change) -> None:
        if is_unschedulable(change.object):
            seen.setdefault(change.key, time.monotonic())

    witness.on_change(witness_change)
    informer.on_change(tracker.observe)
    for component in (witness, informer, tracker):
        await component.start()
    latencies = []
    try:
        for index in range(PODS):
            await kube.request("POST", api_path("v1", "pods", namespace=NAMESPACE),
                               body=_pod(index))
            key = f"{NAMESPACE}/p{index}"
            while True:
                snapshot = await asyncio.wait_for(tracker.snapshots.get(), 30)
                if key in snapshot.new:
                    break
            latencies.append(snapshot.at - seen[key])
    finally:
        for component in (tracker, informer, witness):
            await component.close()
        await kube.close()
    return latencies


def run() -> list[str]:
    if not (BINARIES / "kube-apiserver").exists():
        return ["pending: skipped (no control plane binaries; run `make system`)"]
    with ControlPlane() as plane:
        latencies = sorted(asyncio.run(_measure(str(plane.kubeconfig))))
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return [f"pending: detection latency over {len(latencies)} pods "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (batch window 300 ms)"]
