"""A cluster of mixed shapes for the estimate and scale-down benchmarks.

Reproducible from a seed: four machine shapes in three pools (the GPU pool
tainted), applications of six workload kinds (one pod shape each; some with a
nodeSelector for their pool, GPU requests and a toleration, hostname anti-affinity
among their replicas or a host port) spread over twelve namespaces, two DaemonSet
pods on every node that admits them, and PodDisruptionBudgets.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from controller.ingest.collector import pace_collector
from controller.planning.disruption import DisruptionBudget
from controller.planning.pods import (
    HOSTNAME,
    AntiAffinityTerm,
    HostPort,
    LabelSelector,
    Owner,
    Pod,
    PodShape,
    Toleration,
    Volume,
)
from controller.planning.predicates import node_reason
from controller.planning.scaledown import NodeState
from controller.planning.templates import NodeTemplate, Taint

GiB = 2.0**30
T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """Seconds of runs calls: the median and the first (cold) call's, wall clock, and
    the median of the process's CPU time (what other work on the machine took of the
    wall clock shows as the difference)."""

    p50: float
    first: float
    cpu_p50: float


def timed(call: Callable[[], T], runs: int) -> tuple[Timing, T]:
    """Time runs calls with the garbage collector paced as the controller process
    paces it (``controller/ingest/collector.py``): at CPython's default pace, full
    collections over the model's objects would be part of the figure, and the
    controller does not run that way. The last call's result comes back too."""
    previous = pace_collector()
    try:
        walls, cpus, result = [], [], None
        for _ in range(runs):
            start, started = time.perf_counter(), time.process_time()
            result = call()
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - started)
    finally:
        gc.set_threshold(*previous)
    assert result is not None
    return Timing(statistics.median(walls), walls[0], statistics.median(cpus)), result


@dataclass(frozen=True)
class MachineShape:
    name: str
    cpu: float
    memory: float
    gpu: int
    pool: str
    weight: int


MACHINES = (
    MachineShape("small", 16, 64 * GiB, 0, "general", 4),
    MachineShape("large", 64, 256 * GiB, 0, "general", 3),
    MachineShape("memory", 32, 512 * GiB, 0, "memory", 2),
    MachineShape("gpu", 32, 256 * GiB, 4, "gpu", 1),
)
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


@dataclass(frozen=True)
class Workload:
    """A set of replicas of one pod shape (requests in cores and GiB)."""

    kind: str
    cpu: float
    memory: float
    weight: int
    gpu: int = 0
    pool: str = ""
    spread: bool = False
    """Required anti-affinity on the hostname with its own replicas."""
    port: int = 0
    tolerate_gpu: bool = False


WORKLOADS = (
    Workload("web", 0.25, 0.5, 40),
    Workload("api", 1, 2, 20, spread=True),
    Workload("worker", 2, 4, 15),
    Workload("cache", 0.5, 8, 8, pool="memory"),
    Workload("ingress", 0.5, 1, 4, port=8443),
    Workload("trainer", 4, 32, 3, gpu=1, pool="gpu", tolerate_gpu=True),
)


def template(index: int, shape: MachineShape) -> NodeTemplate:
    name = f"node-{index:05d}"
    labels = {"kubernetes.io/os": "linux", "bamel.io/pool": shape.pool,
              "bamel.io/shape": shape.name, HOSTNAME: name}
    allocatable = {"cpu": shape.cpu, "memory": shape.memory - GiB, "pods": 110.0,
                   "ephemeral-storage": 400e9}
    if shape.gpu:
        allocatable["nvidia.com/gpu"] = float(shape.gpu)
    taints = (GPU_TAINT,) if shape.gpu else ()
    return NodeTemplate(name=name, allocatable=allocatable, labels=labels, taints=taints)


def templates(count: int, rng: random.Random) -> list[NodeTemplate]:
    shapes = rng.choices(MACHINES, weights=[m.weight for m in MACHINES], k=count)
    return [template(i, shape) for i, shape in enumerate(shapes)]


def shape_of(workload: Workload, app: str, namespace: str) -> PodShape:
    labels = {"app": app, "tier": workload.kind}
    requests = {"cpu": workload.cpu, "memory": workload.memory * GiB}
    if workload.gpu:
        requests["nvidia.com/gpu"] = workload.gpu
    anti = [AntiAffinityTerm(LabelSelector.of({"app": app}), frozenset({namespace}))] \
        if workload.spread else []
    return PodShape.of(
        namespace=namespace, labels=labels, requests=requests,
        node_selector={"bamel.io/pool": workload.pool} if workload.pool else {},
        tolerations=[Toleration("nvidia.com/gpu", "Exists")] if workload.tolerate_gpu else [],
        anti_affinity=anti,
        host_ports=[HostPort(workload.port)] if workload.port else [])


def apps(count: int, rng: random.Random) -> list[tuple[Workload, PodShape, str]]:
    """count applications: a workload, its pod shape and its namespace each."""
    chosen = rng.choices(WORKLOADS, weights=[w.weight for w in WORKLOADS], k=count)
    out = []
    for index, workload in enumerate(chosen):
        namespace = f"team-{index % 12}"
        out.append((workload, shape_of(workload, f"{workload.kind}-{index}", namespace),
                    namespace))
    return out


def pending(count: int, rng: random.Random) -> list[Pod]:
    """Pending pods of about count / 25 applications, plus a few that do not fit any
    machine and a few expendable ones."""
    out: list[Pod] = []
    catalogue = apps(max(1, count // 25), rng)
    while len(out) < count:
        _, shape, namespace = rng.choice(catalogue)
        app = shape.label_map["app"]
        priority = -20 if len(out) % 97 == 0 else 0
        out.append(Pod(namespace, f"{app}-{len(out)}", shape, priority=priority,
                       owner=Owner("ReplicaSet", app)))
    huge = PodShape.of(namespace="team-0", labels={"app": "huge"},
                       requests={"cpu": 200, "memory": 64 * GiB})
    for index in range(max(1, count // 200)):
        out[index * 7] = Pod("team-0", f"huge-{index}", huge, owner=Owner("ReplicaSet"))
    return out


DAEMONS = (
    PodShape.of(namespace="kube-system", labels={"app": "kube-proxy"},
                requests={"cpu": 0.1, "memory": 0.1 * GiB}),
    PodShape.of(namespace="bamel-system", labels={"app": "bamel-agent"},
                requests={"cpu": 0.05, "memory": 0.05 * GiB},
                tolerations=[Toleration(operator="Exists")]),
)


def cluster(nodes: int, pods: int, rng: random.Random
            ) -> tuple[list[NodeState], list[DisruptionBudget]]:
    """nodes ready nodes holding pods pods in all (two DaemonSet pods each included),
    filled round-robin to at most FILL of their cpu and memory, and a budget for one
    application in three. One node in fifty is annotated scale-down-disabled."""
    shapes = templates(nodes, rng)
    held: list[list[Pod]] = [[_daemon_pod(d, t.name) for d in DAEMONS
                              if node_reason(d, t) is None] for t in shapes]
    count = sum(len(h) for h in held)
    catalogue = apps(max(1, (pods - count) // 50), rng)
    by_pool: dict[str, list[tuple[Workload, PodShape, str]]] = {}
    for app in catalogue:
        by_pool.setdefault(app[0].pool or "general", []).append(app)
    free = [{name: value * (FILL if name in ("cpu", "memory") else 1.0)
             for name, value in t.allocatable.items()} for t in shapes]
    for index, h in enumerate(held):
        _take(free[index], [p.shape for p in h])
    serial, added = 0, 1
    while count < pods and added:
        added = 0
        for index, node in enumerate(shapes):
            choices = by_pool.get(node.labels["bamel.io/pool"])
            if count >= pods or not choices:
                continue
            workload, shape, namespace = rng.choice(choices)
            if not _fits(free[index], shape) or ((workload.spread or workload.port) and any(
                    p.shape is shape for p in held[index])):
                continue
            _take(free[index], [shape])
            serial += 1
            held[index].append(_pod(namespace, f"{shape.label_map['app']}-{serial}", shape,
                                    node.name, serial))
            count += 1
            added += 1
    budgets = [DisruptionBudget(namespace, f"{shape.label_map['app']}-pdb",
                                LabelSelector.of({"app": shape.label_map["app"]}),
                                rng.choice([0, *[1, 2, 3, 5] * 3]))
               for i, (_, shape, namespace) in enumerate(catalogue) if i % 3 == 0]
    states = [NodeState(t, tuple(h), {"bamel.io/scale-down-disabled": "true"} if i % 50 == 0
                        else {}) for i, (t, h) in enumerate(zip(shapes, held, strict=True))]
    return states, budgets


FILL = 0.7
"""Nodes are filled to at most this share of their allocatable cpu and memory."""


def _fits(free: Mapping[str, float], shape: PodShape) -> bool:
    """Whether shape fits in what the fill limit leaves (the filling rule, not the
    scheduler's: the pools and anti-affinity are kept by construction)."""
    return all(free.get(name, 0.0) >= value for name, value in shape.requests if name != "pods")


def _take(free: dict[str, float], shapes: Sequence[PodShape]) -> None:
    for shape in shapes:
        for name, value in shape.requests:
            free[name] = free.get(name, 0.0) - value


def _daemon_pod(shape: PodShape, node: str) -> Pod:
    name = shape.label_map["app"]
    return Pod(shape.namespace, f"{name}-{node}", shape, node_name=node, phase="Running",
               owner=Owner("DaemonSet", name))


def _pod(namespace: str, name: str, shape: PodShape, node: str, serial: int) -> Pod:
    volumes = (Volume("scratch", "emptyDir"),) if serial % 500 == 0 else ()
    return Pod(namespace, name, shape, node_name=node, phase="Running",
               owner=Owner("ReplicaSet", shape.label_map["app"]), volumes=volumes)
