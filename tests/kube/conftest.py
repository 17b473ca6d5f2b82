"""Per-test handles on the session control plane: a client, a namespace, node names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from controller.kube.client import KubeClient, api_path
from lab.controlplane import ControlPlane
from lab.hollow import HollowNode

pytestmark = pytest.mark.integration


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(control_plane.kubeconfig)
    yield client
    await client.close()


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.request("POST", api_path("v1", "namespaces"),
                       body={"metadata": {"name": name}})
    yield name
    await kube.request("DELETE", api_path("v1", "namespaces", name=name))


@pytest.fixture
async def hollow(control_plane: ControlPlane) -> AsyncIterator[Callable[..., Any]]:
    """Factory of hollow nodes with unique names; all closed and deleted after the test."""
    nodes: list[HollowNode] = []

    async def make(prefix: str = "hollow", *, schedulable: bool = True,
                   **options: Any) -> HollowNode:
        node = HollowNode(kubeconfig=control_plane.kubeconfig,
                          name=f"{prefix}-{uuid.uuid4().hex[:6]}", **options)
        nodes.append(node)
        await node.start()
        if schedulable:
            await node.wait_schedulable()
        return node

    yield make
    for node in nodes:
        await node.close(delete=True)


def pod(name: str, *, cpu: str = "100m", memory: str = "64Mi", **spec: Any) -> dict[str, Any]:
    """A minimal pod manifest with one container requesting cpu and memory."""
    container = {"name": "main", "image": "registry.invalid/pause:1",
                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}
