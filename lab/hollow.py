"""A hollow node: the part of a kubelet the autoscaler can see, and nothing else.

The test bed has no kubelet, so a Node exists only while something registers it and
keeps its status and Lease fresh. A HollowNode does exactly that: it registers a Node
with a given capacity, labels and taints, heartbeats its Ready condition and its
``kube-node-lease`` Lease, reports the pods bound to it as Running, and completes the
deletion of pods that are terminating on it (what a kubelet does after a pod's
containers stop). Closing it stops the heartbeat and leaves the Node behind, so the
real node-lifecycle controller marks it NotReady, as after a power-off.

It talks to the API server with kubernetes-asyncio directly: it plays a peer (the
kubelet), not part of the controller, so it must not share the controller's code.
``bamel lab`` reuses it, registering a node only while its BMC says "on".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)

NOT_FOUND = 404
CONFLICT = 409


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HollowNode:
    """Registers one Node and keeps it alive until close().

    ``ready=False`` registers the node with Ready=False (reason ``KubeletNotReady``):
    a machine that powered on but whose kubelet never comes up.
    """

    def __init__(
        self, *, kubeconfig: str | Path, name: str,
        capacity: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] = (),
        ready: bool = True, heartbeat: float = 1.0,
        annotations: Mapping[str, str] | None = None, internal_ip: str = "127.0.0.1",
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.name = name
        self.capacity = {"cpu": "4", "memory": "8Gi", "pods": "110", **(capacity or {})}
        self.labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       **(labels or {})}
        self.taints = [dict(taint) for taint in taints]
        self.annotations = dict(annotations or {})
        self.internal_ip = internal_ip
        self.ready = ready
        self.heartbeat = heartbeat
        self.pods: tuple[Any, ...] = ()
        """The pods bound here and not terminating, as of the last heartbeat."""
        self._api: client.ApiClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> HollowNode:
        """Register the Node (or adopt an existing one) and start heartbeating."""
        self._api = await config.new_client_from_config(config_file=self.kubeconfig)
        await self._register()
        await self._beat()
        self._task = asyncio.create_task(self._run(), name=f"hollow-node-{self.name}")
        return self

    async def wait_schedulable(self, seconds: float = 30.0) -> None:
        """Wait until the node-lifecycle controller has lifted its not-ready taints,
        after which the scheduler may bind pods here."""
        core = client.CoreV1Api(self._api)
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            node = await core.read_node(self.name)
            taints = node.spec.taints or []
            if not any(t.key.startswith("node.kubernetes.io/") for t in taints):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"node {self.name} still tainted not-ready")

    async def close(self, *, delete: bool = False) -> None:
        """Stop heartbeating; the Node stays (NotReady soon) unless delete. Safe twice."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._api is not None:
            if delete:
                with contextlib.suppress(ApiException):
                    await client.CoreV1Api(self._api).delete_node(self.name)
            await self._api.close()
            self._api = None

    async def __aenter__(self) -> HollowNode:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- registration and heartbeat ----------------------------------------------

    async def _register(self) -> None:
        core = client.CoreV1Api(self._api)
        body: Any = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels,
                         "annotations": self.annotations},
            "spec": {"taints": self.taints},
        }
        try:
            await core.create_node(body)
        except ApiException as error:
            if error.status != CONFLICT:
                raise

    def _status(self) -> dict[str, Any]:
        now = _now()
        status, reason = ("True", "KubeletReady") if self.ready else ("False", "KubeletNotReady")
        message = "hollow node is posting ready status" if self.ready else \
            "container runtime network not ready"
        return {"status": {
            "capacity": self.capacity, "allocatable": self.capacity,
            "conditions": [{
                "type": "Ready", "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
            "addresses": [{"type": "InternalIP", "address": self.internal_ip},
                          {"type": "Hostname", "address": self.name}],
            "nodeInfo": _node_info(),
        }}

    async def _beat(self) -> None:
        core = client.CoreV1Api(self._api)
        await core.patch_node_status(self.name, self._status())
        await self._renew_lease()
        await self._report_pods()

    async def _renew_lease(self) -> None:
        leases = client.CoordinationV1Api(self._api)
        body: Any = {"metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                         "renewTime": _micro_now()}}
        try:
            await leases.patch_namespaced_lease(self.name, "kube-node-lease", body)
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise
            await leases.create_namespaced_lease("kube-node-lease", body)

    async def _report_pods(self) -> None:
        """Run what was bound here; finish deleting what is terminating here."""
        core = client.CoreV1Api(self._api)
        pods = await core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.name}")
        self.pods = tuple(pod for pod in pods.items if pod.metadata.deletion_timestamp is None)
        for pod in pods.items:
            meta = pod.metadata
            try:
                if meta.deletion_timestamp is not None:
                    await core.delete_namespaced_pod(meta.name, meta.namespace,
                                                     grace_period_seconds=0)
                elif pod.status.phase == "Pending":
                    await core.patch_namespaced_pod_status(meta.name, meta.namespace,
                                                           _running(pod))
            except ApiException as error:
                if error.status != NOT_FOUND:
                    raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Exception as error:  # a kubelet keeps beating whatever one beat met
                log.warning("hollow node %s: heartbeat failed: %r", self.name, error)


def _running(pod: Any) -> dict[str, Any]:
    now = _now()
    containers = [
        {"name": container.name, "image": container.image, "imageID": "",
         "ready": True, "restartCount": 0, "started": True,
         "state": {"running": {"startedAt": now}}}
        for container in pod.spec.containers
    ]
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": now}
                  for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {"status": {"phase": "Running", "startTime": now, "podIP": "10.244.0.1",
                       "hostIP": "127.0.0.1", "conditions": conditions,
                       "containerStatuses": containers}}


def _node_info() -> dict[str, str]:
    return {"machineID": "hollow", "systemUUID": "hollow", "bootID": "hollow",
            "kernelVersion": "hollow", "osImage": "hollow", "containerRuntimeVersion": "hollow",
            "kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
            "operatingSystem": "linux", "architecture": "amd64"}
