"""Image warm-up on join, against the real control plane, a real BMC and hollow nodes.

There is no kubelet here: the machine's Node is a hollow node (``lab.hollow``), which
reports the pods bound to it Running and never pulls anything. So these tests play
the kubelet's last word themselves where they need it: they set the warm-up pod's
phase to Succeeded through the ``pods/status`` subresource, as a kubelet does once
every container has exited.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube.client import MERGE_PATCH, KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.service import ControllerService, ServiceSettings
from lab.controlplane import ControlPlane
from lab.hollow import HollowNode
from lab.peers import IpmiSim
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    PoweredNode,
    config_yaml,
    create_secret,
    eventually,
    running,
)

pytestmark = pytest.mark.integration

IMAGES = {"a": "registry.invalid/app-a:1", "b": "registry.invalid/app-b:1",
          "c": "registry.invalid/app-c:1"}
USED_BY = {"a": 3, "b": 2, "c": 1}
"""Running pods of the pool per image: with top 2, a and b are pulled, c is not."""


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username=USERNAME, password=PASSWORD) as sim:
        yield sim


class Pool:
    """One pool with one BMC-backed machine, kept on by minNodes, and a static node of
    the pool already running the pool's usual pods."""

    def __init__(self, tmp_path: Path, control_plane: ControlPlane, namespace: str,
                 bmc: IpmiSim) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.name, self.machine = f"pool-{suffix}", f"machine-{suffix}"
        self.namespace, self.bmc, self.tmp_path = namespace, bmc, tmp_path
        self.kubeconfig = str(control_plane.kubeconfig)

    def settings(self, warm_up: str) -> ServiceSettings:
        config = self.tmp_path / "config.yaml"
        config.write_text(config_yaml(
            pool=self.name, machine=self.machine, bmc=self.bmc, secret="bmc",
            namespace=self.namespace,
            pool_fields=f"    limits: {{minNodes: 1}}\n    warmUp: {warm_up}\n"))
        return ServiceSettings(config_file=config, kubeconfig=self.kubeconfig,
                               listen_host="127.0.0.1", listen_port=0,
                               namespace=self.namespace, identity="test-controller",
                               join_poll=0.2)


@pytest.fixture
async def pool(*, tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient,
               bmc: IpmiSim, hollow: Callable[..., Any]) -> Pool:
    await create_secret(kube, namespace, "bmc")
    world = Pool(tmp_path, control_plane, namespace, bmc)
    static = await hollow("static", labels={"bamel.io/pool": world.name})
    for image, pods in USED_BY.items():
        for index in range(pods):
            await kube.request("POST", api_path("v1", "pods", namespace=namespace), body={
                "metadata": {"name": f"{image}-{index}"},
                "spec": {"nodeName": static.name, "containers": [
                    {"name": "main", "image": IMAGES[image]}]}})
    assert await eventually(lambda: _all_running(kube, namespace, sum(USED_BY.values())))
    return world


@pytest.fixture
async def priority_class(kube: KubeClient) -> AsyncIterator[str]:
    name = f"warm-{uuid.uuid4().hex[:6]}"
    path = api_path("scheduling.k8s.io/v1", "priorityclasses")
    await kube.request("POST", path, body={"metadata": {"name": name}, "value": -5})
    yield name
    await kube.request("DELETE", api_path("scheduling.k8s.io/v1", "priorityclasses", name=name))


async def _all_running(kube: KubeClient, namespace: str, count: int) -> bool:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return sum(p["status"].get("phase") == "Running" for p in pods["items"]) >= count


async def warm_up_pods(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace),
                              query={"labelSelector": "bamel.io/warm-up"})
    return list(pods["items"])


async def gone(kube: KubeClient, namespace: str, name: str) -> bool:
    try:
        await kube.request("GET", api_path("v1", "pods", namespace=namespace, name=name))
    except KubeNotFound:
        return True
    return False


async def phase_is(kube: KubeClient, namespace: str, name: str, phase: str) -> bool:
    pod = await kube.request("GET", api_path("v1", "pods", namespace=namespace, name=name))
    return bool(pod["status"].get("phase") == phase)


def counted(service: ControllerService, pool: str, outcome: str) -> float:
    value: float = service.metrics.warm_ups.labels(pool, outcome)._value.get()
    return value


async def counts(service: ControllerService, pool: str, outcome: str) -> float:
    """The count once it is 1 or more (the controller counts after the API server has
    answered it, which a test's own read may see first); 0 after a few seconds."""
    async def read() -> float:
        return counted(service, pool, outcome)
    value: float = await eventually(read, within=5)
    return value


async def test_the_joined_node_pulls_the_pools_top_images_then_the_pod_goes(
        pool: Pool, kube: KubeClient, priority_class: str) -> None:
    warm_up = f"{{mode: top, top: 2, timeout: 5m, priorityClassName: {priority_class}}}"
    async with running(pool.settings(warm_up)) as service, \
            PoweredNode(pool.kubeconfig, pool.bmc, pool.machine):
        found = await eventually(lambda: warm_up_pods(kube, pool.namespace))
        assert [p["metadata"]["name"] for p in found] == [f"warm-up-{pool.machine}"]
        pod = found[0]
        node = await kube.request("GET", api_path("v1", "nodes", name=pool.machine))
        assert pod["spec"]["nodeName"] == pool.machine
        assert [c["image"] for c in pod["spec"]["containers"]] == [IMAGES["a"], IMAGES["b"]]
        assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
        assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == (
            priority_class, -5)
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["metadata"]["labels"]["bamel.io/warm-up"] == pool.machine
        assert pod["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
        assert await counts(service, pool.name, "started") == 1

        name = pod["metadata"]["name"]
        assert await eventually(lambda: phase_is(kube, pool.namespace, name, "Running"))
        await kube.request(
            "PATCH", api_path("v1", "pods", namespace=pool.namespace, name=name,
                              subresource="status"),
            body={"status": {"phase": "Succeeded"}}, content_type=MERGE_PATCH)
        assert await eventually(lambda: gone(kube, pool.namespace, name), within=30)
        assert await counts(service, pool.name, "succeeded") == 1
        assert counted(service, pool.name, "timed-out") == 0


async def test_a_warm_up_pod_that_never_finishes_is_deleted_at_its_timeout(
        pool: Pool, kube: KubeClient) -> None:
    async with running(pool.settings("{mode: list, images: [busybox], timeout: 3s}")) \
            as service, PoweredNode(pool.kubeconfig, pool.bmc, pool.machine):
        found = await eventually(lambda: warm_up_pods(kube, pool.namespace))
        assert [c["image"] for c in found[0]["spec"]["containers"]] == [
            "docker.io/library/busybox:latest"]
        name = found[0]["metadata"]["name"]
        assert await eventually(lambda: gone(kube, pool.namespace, name), within=30)
        assert await counts(service, pool.name, "timed-out") == 1
        assert counted(service, pool.name, "succeeded") == 0


async def test_with_warm_up_off_nothing_is_created(pool: Pool, kube: KubeClient) -> None:
    async with running(pool.settings("{mode: off}")) as service, \
            PoweredNode(pool.kubeconfig, pool.bmc, pool.machine):
        assert await eventually(lambda: _joined(kube, pool.machine))
        await eventually(lambda: warm_up_pods(kube, pool.namespace), within=3)
        assert await warm_up_pods(kube, pool.namespace) == []
        assert counted(service, pool.name, "started") == 0


async def test_a_leftover_warm_up_pod_is_ended_by_a_restarted_controller(
        pool: Pool, kube: KubeClient, hollow: Callable[..., Any]) -> None:
    """A controller that stopped before deleting finds it by its label and its deadline."""
    node: HollowNode = await hollow("old")
    await kube.request("POST", api_path("v1", "pods", namespace=pool.namespace), body={
        "metadata": {"name": "warm-up-old", "labels": {"bamel.io/warm-up": "old",
                                "app.kubernetes.io/managed-by": "bamel-autoscaler"},
                     "annotations": {"bamel.io/warm-up-deadline": "2000-01-01T00:00:00Z",
                                     "bamel.io/warm-up-pool": pool.name}},
        "spec": {"nodeName": node.name, "restartPolicy": "Never",
                 "containers": [{"name": "pull-0", "image": IMAGES["a"]}]}})
    async with running(pool.settings("{mode: off}")) as service:
        assert await eventually(lambda: gone(kube, pool.namespace, "warm-up-old"), within=30)
        assert await counts(service, pool.name, "timed-out") == 1


async def _joined(kube: KubeClient, machine: str) -> bool:
    try:
        bmn = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=machine))
    except KubeNotFound:
        return False
    return bool((bmn.get("status") or {}).get("state") == "ready")
