"""A small world for the service tests: one BMC-backed machine, its node, an agent stream.

``PoweredNode`` plays the machine's kubelet: it registers a hollow Node tainted
``bamel.io/unconfirmed`` once the BMC's chassis is on (after a boot delay) and
removes it when the chassis goes off. ``AgentStream`` is a protocol load generator
for one node: it sends frames in the agent's wire format with the node's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from controller.kube.client import KubeClient, api_path
from controller.kube.nodes import UNCONFIRMED_TAINT
from controller.service import ControllerService, ServiceSettings
from controller.tasks import cancel_and_wait
from lab.hollow import HollowNode
from lab.peers import IpmiSim
from wire import PressureSample, encode_sample

USERNAME, PASSWORD = "admin", "rig-Pa55word"


class PoweredNode:
    """Registers the machine's Node while its BMC says on."""

    def __init__(self, kubeconfig: str | Path, bmc: IpmiSim, name: str, *,
                 boot: float = 0.5, capacity: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.bmc, self.name, self.boot = kubeconfig, bmc, name, boot
        self.capacity = capacity or {"cpu": "8", "memory": "16Gi"}
        self.labels = labels or {}
        """What the kubelet registers the Node with (its own labels, e.g. a disk kind)."""
        self.node: HollowNode | None = None
        self.registrations = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PoweredNode:
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *_: object) -> None:
        await cancel_and_wait(self._task)
        if self.node is not None:
            await self.node.close(delete=True)

    async def _follow(self) -> None:
        booted = False
        while True:
            on = self.bmc.chassis_on
            if on and self.node is None:
                if not booted:
                    await asyncio.sleep(self.boot)
                    booted = True
                self.node = await self._register()
            elif not on and self.node is not None:
                await self.node.close(delete=True)
                self.node, booted = None, False
            await asyncio.sleep(0.1)

    async def _register(self) -> HollowNode | None:
        """The Node registered, or None when the API server did not take it (a kubelet
        tries again)."""
        node = HollowNode(kubeconfig=self.kubeconfig, name=self.name,
                          capacity=self.capacity, labels=self.labels,
                          taints=[{"key": UNCONFIRMED_TAINT, "effect": "NoSchedule"}])
        try:
            await node.start()
        except (OSError, aiohttp.ClientError, ApiException):
            await node.close()
            return None
        self.registrations += 1
        return node


class AgentStream:
    """Streams one node's pressure at ``hz`` with the node's token until closed."""

    def __init__(self, url: str, node: str, token: str, *, hz: float = 5.0,
                 macs: tuple[str, ...] = ()) -> None:
        self.url, self.node, self.token, self.hz, self.macs = url, node, token, hz, macs
        self.levels = {"cpu": 0.05, "memory": 0.05, "network": 0.05}
        self.rates = {"cpu": -0.01, "memory": -0.01, "network": -0.01}
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AgentStream:
        self._task = asyncio.create_task(self._send())
        return self

    async def __aexit__(self, *_: object) -> None:
        await cancel_and_wait(self._task)

    async def _send(self) -> None:
        boot = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(self.url, headers=headers) as ws:
            for seq in itertools.count(1):
                sample = PressureSample(
                    node=self.node, boot_id=boot, macs=self.macs, timestamp=time.time(), seq=seq,
                    interval=1 / self.hz, levels=dict(self.levels), rates=dict(self.rates),
                    sources=dict.fromkeys(self.levels, "psi"))
                await ws.send_str(encode_sample(sample))
                self.sent += 1
                await asyncio.sleep(1 / self.hz)


def config_yaml(*, pool: str, machine: str, bmc: IpmiSim, secret: str, namespace: str,
                unneeded: str = "2s", pool_fields: str = "") -> str:
    """One pool, one ipmi machine, lab timings; pool_fields: more lines of the pool,
    each indented by four spaces."""
    ipmi = f"{{driver: ipmi, settings: {{host: 127.0.0.1, port: {bmc.port}}}}}"
    return f"""apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools:
  - name: {pool}
    labels: {{bamel.io/pool: {pool}}}
    scaleUp: {{stabilizationWindow: 0s, cooldown: 0s, maxPerMinute: 10}}
    scaleDown: {{unneededTime: {unneeded}, minUptime: 1s, drainTimeout: 30s, maxPerMinute: 10}}
{pool_fields}machines:
  - name: {machine}
    pool: {pool}
    capacity: {{cpu: "8", memory: 16Gi}}
    power:
      on: {ipmi}
      off: {ipmi}
      credentials: {{secret: {secret}, namespace: {namespace}}}
    bootTime: 20s
"""


async def create_secret(kube: KubeClient, namespace: str, name: str) -> None:
    await kube.request("POST", api_path("v1", "secrets", namespace=namespace), body={
        "metadata": {"name": name}, "stringData": {"username": USERNAME,
                                                    "password": PASSWORD}})


def replica_set(name: str, pool: str, *, cpu: str = "2") -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "main", "image": "registry.invalid/pause:1",
                 "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [container],
                                           "nodeSelector": {"bamel.io/pool": pool}}}}}


async def eventually(check: Any, *, within: float = 60.0, every: float = 0.2) -> Any:
    """Poll an async check until it returns something truthy; its last value on timeout."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running(settings: ServiceSettings) -> Any:
    """A ControllerService running in this loop; stopped and awaited on exit."""
    service = ControllerService(settings)
    task = asyncio.create_task(service.run())
    try:
        for _ in range(400):
            if task.done():
                task.result()  # raises what stopped it
            if getattr(service, "reactor", None) is not None and service.port:
                break
            await asyncio.sleep(0.05)
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)
