"""The scheduler's view as a hard constraint, on the real control plane.

The real scheduler binds pods to hollow kubelets, each machine has a real BMC
(``ipmi_sim``) whose chassis brings its Node up and down (``PoweredNode``), and the
controller runs whole, in this process. Every expectation is what the scheduler
does afterwards: the pod runs where the controller said it could, or it never could.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bamel.commands.explain import render
from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.service import ControllerService, ServiceSettings
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    AgentStream,
    PoweredNode,
    create_secret,
    eventually,
    running,
)

pytestmark = pytest.mark.integration

GPU = "nvidia.com/gpu"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"


@dataclass
class Machine:
    role: str
    cpu: int = 8
    gpu: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    """Labels its kubelet registers the Node with."""
    name: str = ""
    bmc: IpmiSim | None = None

    def capacity(self) -> dict[str, str]:
        gpus = {GPU: str(self.gpu)} if self.gpu else {}
        return {"cpu": str(self.cpu), "memory": "16Gi", **gpus}

    def config(self, pool: str, namespace: str) -> str:
        assert self.bmc is not None
        ipmi = f"{{driver: ipmi, settings: {{host: 127.0.0.1, port: {self.bmc.port}}}}}"
        return f"""  - name: {self.name}
    pool: {pool}
    capacity: {{cpu: "{self.cpu}", memory: 16Gi, gpu: {self.gpu}}}
    power: {{on: {ipmi}, off: {ipmi}, credentials: {{secret: bmc, namespace: {namespace}}}}}
    bootTime: 20s
"""


@dataclass
class Rack:
    """One pool of BMC-backed machines and the controller that runs it."""

    pool: str
    namespace: str
    machines: dict[str, Machine]
    config: Path
    tokens: Path
    kubeconfig: str

    def settings(self) -> ServiceSettings:
        return ServiceSettings(
            config_file=self.config, kubeconfig=self.kubeconfig, listen_host="127.0.0.1",
            listen_port=0, agent_tokens=self.tokens, namespace=self.namespace,
            identity="scheduling-truth", join_poll=0.2)

    def commands(self, role: str) -> list[str]:
        bmc = self.machines[role].bmc
        assert bmc is not None
        return bmc.commands()

    def name(self, role: str) -> str:
        return self.machines[role].name


@contextlib.asynccontextmanager
async def rack(tmp_path: Path, plane: ControlPlane, namespace: str, kube: KubeClient,
               *machines: Machine, scale_down: str = "") -> AsyncIterator[Rack]:
    """The machines' BMCs and kubelets, their pool's config, the agents' tokens."""
    suffix = uuid.uuid4().hex[:6]
    pool = f"pool-{suffix}"
    await create_secret(kube, namespace, "bmc")
    with contextlib.ExitStack() as bmcs:
        for machine in machines:
            machine.name = f"{machine.role}-{suffix}"
            machine.bmc = bmcs.enter_context(IpmiSim(username=USERNAME, password=PASSWORD))
        config = tmp_path / "config.yaml"
        config.write_text(f"""apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools:
  - name: {pool}
    labels: {{bamel.io/pool: {pool}}}
    scaleUp: {{stabilizationWindow: 0s, cooldown: 0s, maxPerMinute: 10, batch: 4}}
    scaleDown: {{unneededTime: 2s, minUptime: 1s, drainTimeout: 3s, maxPerMinute: 10
                 {scale_down}}}
machines:
{"".join(machine.config(pool, namespace) for machine in machines)}""")
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text("".join(f"{m.name}: token-{m.name}\n" for m in machines))
        async with contextlib.AsyncExitStack() as kubelets:
            for machine in machines:
                assert machine.bmc is not None
                await kubelets.enter_async_context(PoweredNode(
                    plane.kubeconfig, machine.bmc, machine.name, capacity=machine.capacity(),
                    labels=machine.labels))
            yield Rack(pool, namespace, {m.role: m for m in machines}, config, tokens,
                       str(plane.kubeconfig))


def replica_set(name: str, pool: str, *, cpu: str = "1", gpu: int = 0, replicas: int = 1,
                selector: dict[str, str] | None = None, spread: bool = False,
                annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Pods of one app, asking cpu (and gpu), restricted to the pool's nodes."""
    labels = {"app": name}
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": "256Mi"}}
    if gpu:
        resources["requests"][GPU] = str(gpu)
        resources["limits"] = {GPU: str(gpu)}
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "registry.invalid/pause:1",
                        "resources": resources}],
        "nodeSelector": {"bamel.io/pool": pool, **(selector or {})},
        "terminationGracePeriodSeconds": 0}
    if spread:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": annotations or {}},
                                  "spec": spec}}}


async def create(kube: KubeClient, namespace: str, body: dict[str, Any]) -> None:
    await kube.request("POST", api_path("apps/v1", "replicasets", namespace=namespace), body=body)


async def delete(kube: KubeClient, namespace: str, name: str) -> None:
    await kube.request("DELETE", api_path("apps/v1", "replicasets", namespace=namespace,
                                          name=name))


async def pods_of(kube: KubeClient, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace),
                              query={"labelSelector": f"app={app}"})
    return list(pods["items"])


async def running_on(kube: KubeClient, namespace: str, app: str) -> list[str]:
    """The nodes the app's live pods run on, sorted."""
    return sorted(p["spec"].get("nodeName", "") for p in await pods_of(kube, namespace, app)
                  if p["status"].get("phase") == "Running"
                  and not p["metadata"].get("deletionTimestamp"))


async def state(kube: KubeClient, machine: str) -> str:
    """Its recorded state; "" before the controller has created its BareMetalNode."""
    try:
        bmn = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=machine))
    except KubeNotFound:
        return ""
    return str((bmn.get("status") or {}).get("state") or "")


async def pod_events(kube: KubeClient, namespace: str, reason: str) -> list[dict[str, Any]]:
    events = await kube.request("GET", api_path("v1", "events", namespace=namespace))
    return [e for e in events["items"] if e["reason"] == reason]


async def machine_events(kube: KubeClient, machine: str, reason: str) -> int:
    """How many Events of reason the machine's BareMetalNode has (its Node gets a twin)."""
    events = await kube.request("GET", api_path("v1", "events", namespace="default"))
    return sum(1 for e in events["items"] if e["reason"] == reason
               and e["involvedObject"]["name"] == machine
               and e["involvedObject"]["kind"] == "BareMetalNode")


async def explained(service: ControllerService) -> str:
    """What ``bamel explain`` prints for the controller's recent decisions."""
    url = f"http://127.0.0.1:{service.port}/explain?limit=20"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        payload = await response.json()
    return "\n".join(render(decision) for decision in payload["decisions"])


async def quiet_agents(service: ControllerService, site: Rack,
                       stack: contextlib.AsyncExitStack) -> None:
    """Every machine's agent streaming low pressure (silence is not idleness)."""
    url = f"ws://127.0.0.1:{service.port}/v1/stream"
    for machine in site.machines.values():
        await stack.enter_async_context(AgentStream(url, machine.name, f"token-{machine.name}"))


async def up(kube: KubeClient, site: Rack, *roles: str) -> None:
    """Power the machines on with one pod each, pinned by hostname, and wait till ready."""
    for role in roles:
        await create(kube, site.namespace, replica_set(
            f"boot-{role}", site.pool, cpu="100m",
            selector={"kubernetes.io/hostname": site.name(role)}))
    for role in roles:
        assert await eventually(lambda r=role: _is(kube, site.name(r), "ready"), within=60)  # type: ignore[misc]


async def _is(kube: KubeClient, machine: str, wanted: str) -> bool:
    return await state(kube, machine) == wanted


# --- scale-up ---------------------------------------------------------------------


async def test_a_pod_bigger_than_every_machine_powers_nothing_on_and_says_why(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    async with rack(tmp_path, control_plane, namespace, kube, Machine("a"), Machine("b")) as site, \
            running(site.settings()) as service:
        await create(kube, namespace, replica_set("huge", site.pool, cpu="64"))
        events = await eventually(lambda: pod_events(kube, namespace, "NotTriggerScaleUp"))
        assert events, await explained(service)
        assert "Insufficient cpu" in events[0]["message"]
        assert events[0]["involvedObject"]["kind"] == "Pod"
        gauge = service.metrics.unplaceable_pods.labels(site.pool)._value.get()
        assert gauge == 1
        assert "fits no machine: " in await explained(service)
        await asyncio.sleep(2)  # passes go on; still nothing
        assert site.commands("a") == site.commands("b") == []
        assert len(await pod_events(kube, namespace, "NotTriggerScaleUp")) == 1


async def test_a_gpu_pod_powers_on_only_the_gpu_machine_and_lands_there(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    async with rack(tmp_path, control_plane, namespace, kube, Machine("cpu", cpu=16),
                    Machine("gpu", cpu=8, gpu=1)) as site, running(site.settings()):
        await create(kube, namespace, replica_set("trainer", site.pool, cpu="2", gpu=1))
        placed = await eventually(lambda: running_on(kube, namespace, "trainer"), within=60)
        assert placed == [site.name("gpu")]
        assert site.commands("gpu") == ["set power 1"]
        assert site.commands("cpu") == []


async def test_a_node_selector_on_a_label_one_machine_reported_powers_that_machine_on(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    """The label is the kubelet's own: learnt while the machine was up, kept in its
    record through the power-off, and matched while it is off."""
    async with rack(tmp_path, control_plane, namespace, kube, Machine("plain"),
                    Machine("fast", labels={"example.com/disk": "nvme"})) as site, \
            running(site.settings()) as service, contextlib.AsyncExitStack() as agents:
        await up(kube, site, "fast")
        await delete(kube, namespace, "boot-fast")
        await quiet_agents(service, site, agents)
        assert await eventually(lambda: _is(kube, site.name("fast"), "off"), within=60)
        bmn = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=site.name("fast")))
        assert {"key": "example.com/disk", "value": "nvme"} in bmn["status"]["nodeLabels"]
        await create(kube, namespace, replica_set("db", site.pool,
                                                  selector={"example.com/disk": "nvme"}))
        placed = await eventually(lambda: running_on(kube, namespace, "db"), within=60)
        assert placed == [site.name("fast")]
        assert site.commands("plain") == []


async def test_two_replicas_with_hostname_anti_affinity_power_on_two_machines(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    async with rack(tmp_path, control_plane, namespace, kube, Machine("a"), Machine("b"),
                    Machine("c")) as site, running(site.settings()):
        await create(kube, namespace, replica_set("web", site.pool, replicas=2, spread=True))

        async def both() -> list[str]:
            nodes = await running_on(kube, namespace, "web")
            return nodes if len(nodes) == 2 else []

        placed = await eventually(both, within=60)
        assert len(set(placed)) == 2
        powered = [role for role in "abc" if site.commands(role)]
        assert len(powered) == 2, [site.commands(role) for role in "abc"]


# --- scale-down -------------------------------------------------------------------


async def adopted(kube: KubeClient, namespace: str, app: str, pool: str, *, node: str,
                  cpu: str = "100m", finalizer: bool = False,
                  annotations: dict[str, str] | None = None) -> str:
    """A pod of app bound to node by name, then adopted by app's ReplicaSet: it runs
    where the test says, yet nothing but the pool pins it (no hostname selector), so
    it could run elsewhere. Its name."""
    body = replica_set(app, pool, cpu=cpu, annotations=annotations)
    template = body["spec"]["template"]
    name = f"{app}-0"
    meta: dict[str, Any] = {"name": name, **template["metadata"]}
    if finalizer:
        meta["finalizers"] = ["example.com/hold"]
    await kube.request("POST", api_path("v1", "pods", namespace=namespace), body={
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {**template["spec"], "nodeName": node}})
    await create(kube, namespace, body)
    return name


async def disable_scale_down(kube: KubeClient, node: str) -> None:
    await kube.request("PATCH", api_path("v1", "nodes", name=node),
                       body={"metadata": {"annotations": {SCALE_DOWN_DISABLED: "true"}}},
                       content_type="application/merge-patch+json")


async def _explains(service: ControllerService, phrase: str) -> bool:
    return phrase in await explained(service)


async def test_a_quiet_node_whose_pods_fit_nowhere_else_stays_until_there_is_room(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    async with rack(tmp_path, control_plane, namespace, kube, Machine("a"), Machine("b")) as site, \
            running(site.settings()) as service, contextlib.AsyncExitStack() as agents:
        a, b = site.name("a"), site.name("b")
        await up(kube, site, "a", "b")
        await adopted(kube, namespace, "big-a", site.pool, node=a, cpu="6")
        await adopted(kube, namespace, "big-b", site.pool, node=b, cpu="6")
        await disable_scale_down(kube, b)
        for role in "ab":
            await delete(kube, namespace, f"boot-{role}")
        assert await eventually(lambda: running_on(kube, namespace, "big-a"), within=30) == [a]
        await quiet_agents(service, site, agents)
        said = await eventually(lambda: _explains(service, "Insufficient cpu"), within=30)
        assert said, await explained(service)
        await asyncio.sleep(3)
        assert await state(kube, a) == "ready"
        assert site.commands("a") == ["set power 1"]

        await delete(kube, namespace, "big-b")  # room on b now
        assert await eventually(lambda: _is(kube, a, "off"), within=60), await explained(service)
        assert await eventually(lambda: running_on(kube, namespace, "big-a"), within=30) == [b]
        assert site.commands("a") == ["set power 1", "set shutdown 1"]


async def test_a_kube_system_pod_without_a_budget_and_a_do_not_disrupt_pod_keep_their_nodes(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    async with rack(tmp_path, control_plane, namespace, kube, Machine("sys"),
                    Machine("keep")) as site, \
            running(site.settings()) as service, contextlib.AsyncExitStack() as agents:
        await up(kube, site, "sys", "keep")
        system = f"agent-{site.pool}"
        await adopted(kube, "kube-system", system, site.pool, node=site.name("sys"))
        try:
            await adopted(kube, namespace, "precious", site.pool, node=site.name("keep"),
                          annotations={"karpenter.sh/do-not-disrupt": "true"})
            for role in ("sys", "keep"):
                await delete(kube, namespace, f"boot-{role}")
            await quiet_agents(service, site, agents)
            for phrase in ("do-not-disrupt", "kube-system pod without a PodDisruptionBudget"):
                assert await eventually(lambda p=phrase: _explains(service, p), within=30), \
                    await explained(service)  # type: ignore[misc]
            await asyncio.sleep(3)
            assert site.commands("sys") == site.commands("keep") == ["set power 1"]
        finally:
            await delete(kube, "kube-system", system)


async def test_a_refused_drain_backs_off_and_the_next_candidate_goes(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    """A pod that never finishes terminating (a finalizer no one removes) makes the drain
    run out of time: something the simulation cannot know, so the cluster refuses what
    the planner offered."""
    async with rack(tmp_path, control_plane, namespace, kube, Machine("stuck"), Machine("free"),
                    Machine("spare")) as site, \
            running(site.settings()) as service, contextlib.AsyncExitStack() as agents:
        stuck = site.name("stuck")
        await up(kube, site, "stuck", "free", "spare")
        held = await adopted(kube, namespace, "held", site.pool, node=stuck, finalizer=True)
        try:
            await disable_scale_down(kube, site.name("spare"))
            for role in ("stuck", "free", "spare"):
                await delete(kube, namespace, f"boot-{role}")
            await quiet_agents(service, site, agents)
            assert await eventually(lambda: machine_events(kube, stuck, "DrainRefused"),
                                    within=60), await explained(service)
            assert await eventually(lambda: _is(kube, site.name("free"), "off"), within=60), \
                await explained(service)
            assert await eventually(lambda: _explains(service, "its drain was refused"),
                                    within=20), await explained(service)
            await asyncio.sleep(5)  # passes go on: the refused machine is not offered again
            assert await machine_events(kube, stuck, "DrainRefused") == 1
            assert await state(kube, stuck) == "ready"
            assert site.commands("stuck") == ["set power 1"]
        finally:
            await kube.request("PATCH", api_path("v1", "pods", namespace=namespace, name=held),
                               body={"metadata": {"finalizers": None}},
                               content_type="application/merge-patch+json")
