"""Image warm-up: a short-lived pod on a machine that just joined, whose only job is
the pulls, so the pool's first pods there start without them.

The pod is pinned to the Node by ``spec.nodeName`` (the scheduler is not asked: the
node is new and the pod must land there) and tolerates every taint, the pool's and
the node's own (``bamel.io/unconfirmed`` is gone by then, but a NoExecute taint
would evict it). Each image is one ordinary container whose command is ``true``,
with ``restartPolicy: Never``. Containers, not init containers: init containers run
one after the other and the first that fails ends the pod, so an image without a
``true`` would keep the images after it from being pulled; the kubelet pulls an
ordinary container's image before it starts it, goes on to the next when one fails
to start, and the pod ends either way: ``Succeeded``, or ``Failed`` when some image
has no ``true`` (its image is pulled all the same). A pull that fails leaves the
pod Pending, which the timeout ends.

The pod lives in the controller's namespace, is owned by the Node (the garbage
collector removes it with the Node), carries ``bamel.io/safe-to-evict: "true"`` (a
drain may evict it: it has no controller, which would otherwise refuse the drain)
and its deadline as an annotation. It is deleted when it has ended or at its
deadline, whichever comes first, from the pod informer's view: a restarted
controller finds the leftovers by their label and ends them the same way. Its name
is the machine's, so a join repeated after a restart finds the pod there and never
starts a second one. Nothing here blocks a join: creation runs in this component's
own task, and a refusal by the API server is logged and counted, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from controller.config import AutoscalerConfig, MachineSpec, PoolSpec
from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeConflict, KubeError, KubeNotFound
from controller.kube.warmimages import (
    WARM_UP_LABEL,
    chosen_images,
    counted,
    node_images,
    pool_nodes,
)
from controller.kube.watching import Change, object_key
from controller.planning.disruption import SAFE_TO_EVICT
from controller.tasks import Spawn, cancel_and_wait, spawn_task

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "bamel-autoscaler"}
DEADLINE = "bamel.io/warm-up-deadline"
POOL = "bamel.io/warm-up-pool"
PREFIX = "warm-up-"
NOBODY = 65534
"""The user and group the ``true`` commands run as: they need no rights at all."""
RETRY = 5.0
"""Seconds before a refused deletion is tried again."""

Counted = Callable[[str, str], None]
"""(pool, outcome): ``started``, ``succeeded``, ``failed`` or ``timed-out``."""


def pod_name(machine: str) -> str:
    return PREFIX + machine


def warm_up_pod(*, machine: str, node: JSON, pool: str, images: Sequence[str],
                namespace: str, deadline: float, priority_class: str | None) -> JSON:
    """The warm-up pod of one join: one ``true`` container per image (module docstring)."""
    meta = node["metadata"]
    containers = [{
        "name": f"pull-{index}", "image": image, "command": ["true"],
        "imagePullPolicy": "IfNotPresent",
        "resources": {"requests": {"cpu": "1m", "memory": "8Mi"},
                      "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    } for index, image in enumerate(images)]
    spec: JSON = {
        "nodeName": meta["name"], "restartPolicy": "Never", "containers": containers,
        "tolerations": [{"operator": "Exists"}], "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False, "enableServiceLinks": False,
        "securityContext": {"runAsUser": NOBODY, "runAsGroup": NOBODY},
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name(machine), "namespace": namespace,
            "labels": {**MANAGED_BY, WARM_UP_LABEL: machine},
            "annotations": {DEADLINE: _timestamp(deadline), POOL: pool,
                            SAFE_TO_EVICT: "true"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": meta["name"],
                                 "uid": meta["uid"]}],
        },
        "spec": spec,
    }


def outcome(pod: JSON, now: float) -> str | None:
    """``succeeded`` or ``failed`` once the pod has ended, ``timed-out`` at its deadline
    (or when it carries none that can be read), None while it may still pull."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return str(phase).lower()
    return "timed-out" if now >= deadline_of(pod) else None


def deadline_of(pod: JSON) -> float:
    """The wall time the pod was given, from its annotation; 0 when unreadable."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEADLINE, "")
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def _timestamp(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WarmUps:
    """Starts a warm-up pod after each join and deletes each when it is done."""

    def __init__(self, client: KubeClient, *, namespace: str,
                 config: Callable[[], AutoscalerConfig], pods: Mapping[str, JSON],
                 nodes: Mapping[str, JSON], tally: Counted = lambda pool, what: None,
                 wall: Callable[[], float] = time.time, spawn: Spawn = spawn_task) -> None:
        self.client = client
        self.namespace = namespace
        self.config = config
        self.pods = pods
        """The pod informer's cache: the pool's running pods, to count their images."""
        self.nodes = nodes
        """The Node informer's cache: the pool's nodes, and what the joined one holds."""
        self.tally = tally
        self.wall = wall
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self._joined: list[tuple[MachineSpec, str]] = []
        self._ours: dict[str, JSON] = {}
        """``namespace/name`` → each warm-up pod as last seen."""
        self._deleting: set[str] = set()
        self._retry_at = 0.0
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._task = self._spawn(self._run(), name="warm-ups")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def joined(self, machine: MachineSpec, node: str) -> None:
        """A machine's Node joined its pool: warm it up soon, without waiting here."""
        self._joined.append((machine, node))
        self._wake.set()

    def observe(self, change: Change) -> None:
        """Pod informer handler: keep the warm-up pods of this namespace (both labels:
        a pod of someone else's is never deleted for a look-alike label)."""
        meta = change.object.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") != self.namespace or WARM_UP_LABEL not in labels \
                or not MANAGED_BY.items() <= labels.items():
            return
        key = object_key(change.object)
        if change.type == "DELETED":
            self._ours.pop(key, None)
            self._deleting.discard(key)
        else:
            self._ours[key] = change.object
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            while self._joined:
                machine, node = self._joined.pop(0)
                await self._start_one(machine, node)
            await self._end_due(self.wall())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep()):
                    await self._wake.wait()

    def _sleep(self) -> float | None:
        """Seconds until the next deadline (or retry); None when nothing waits."""
        waiting = [deadline_of(pod) for key, pod in self._ours.items()
                   if key not in self._deleting]
        if self._retry_at:
            waiting.append(self._retry_at)
        return max(0.0, min(waiting) - self.wall()) if waiting else None

    async def _start_one(self, machine: MachineSpec, node: str) -> None:
        config = self.config()
        try:
            pool = config.pool(machine.pool)
        except KeyError:
            return
        if pool.warm_up.mode == "off":
            return
        try:
            manifest = await self._manifest(machine, node, pool, config)
            if manifest is None:
                return
            await self.client.request("POST", api_path("v1", "pods", namespace=self.namespace),
                                      body=manifest)
        except KubeConflict:
            log.info("%s: its warm-up pod exists already: not started twice", machine.name)
            return
        except KubeError as error:
            log.warning("%s: warm-up pod not created: %s", machine.name, error)
            return
        images = [c["image"] for c in manifest["spec"]["containers"]]
        log.info("%s: warm-up pod pulls %s", machine.name, ", ".join(images))
        self.tally(pool.name, "started")

    async def _manifest(self, machine: MachineSpec, node_name: str, pool: PoolSpec,
                        config: AutoscalerConfig) -> JSON | None:
        """The pod for this join, or None when the node holds every image already."""
        node = self.nodes.get(node_name) or await self.client.request(
            "GET", api_path("v1", "nodes", name=node_name))
        machines = (m.name for m in config.machines if m.pool == pool.name)
        others = pool_nodes(pool, machines=machines, nodes=self.nodes) - {node_name}
        warm_up = pool.warm_up
        images = chosen_images(warm_up, counts=counted(self.pods.values(), nodes=others),
                               present=node_images(node))
        if not images:
            log.info("%s: nothing to warm up (the node holds every image chosen)", machine.name)
            return None
        return warm_up_pod(machine=machine.name, node=node, pool=pool.name, images=images,
                           namespace=self.namespace, deadline=self.wall() + warm_up.timeout,
                           priority_class=warm_up.priority_class_name)

    async def _end_due(self, now: float) -> None:
        """Delete every warm-up pod that has ended or outlived its deadline."""
        self._retry_at = 0.0
        for key, pod in list(self._ours.items()):
            done = outcome(pod, now)
            if done is None or key in self._deleting:
                continue
            meta = pod["metadata"]
            try:
                await self.client.request("DELETE", api_path(
                    "v1", "pods", namespace=self.namespace, name=meta["name"]))
            except KubeNotFound:
                pass
            except KubeError as error:
                log.warning("warm-up pod %s not deleted: %s", meta["name"], error)
                self._retry_at = now + RETRY
                continue
            self._deleting.add(key)
            log.info("warm-up pod %s %s: deleted", meta["name"], done)
            self.tally((meta.get("annotations") or {}).get(POOL, ""), done)
