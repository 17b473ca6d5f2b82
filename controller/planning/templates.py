"""Node templates: for every machine, the Node it becomes once it has joined.

A machine that is off has no Node to ask, yet the estimator must know whether a
pending pod could run on it. The template answers as the scheduler would see the
Node: allocatable per Kubernetes resource name, labels and taints. It is built from
the configuration (the machine's capacity less the pool's ``systemReserved``, the
pool's ``maxPods``, labels and taints, ``kubernetes.io/hostname`` and
``kubernetes.io/os``) and merged with what the machine's Node reported the last time
it was up: learned allocatable and labels win, key by key, because the kubelet's
own figures (its reserves, the memory the kernel keeps, the devices its plugins
found) are the truth the scheduler filters against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from controller.config.schema import MachineSpec, PoolSpec
from controller.planning.pods import HOSTNAME, Pairs, scheduler_units

RESOURCE_KEYS: dict[str, str] = {
    "cpu": "cpu", "memory": "memory", "network": "bamel.io/network", "gpu": "nvidia.com/gpu",
}
"""Kubernetes resource name behind each of RESOURCES (network is an extended resource)."""

OS_LABEL = "kubernetes.io/os"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"
    """NoSchedule and NoExecute keep pods off; PreferNoSchedule only discourages."""

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


@dataclass(frozen=True, eq=False)
class NodeTemplate:
    """A Node as the scheduler's filters see it (compared by identity)."""

    name: str
    """The Node's name (the machine's, unless its record names another)."""
    allocatable: Mapping[str, float]
    """Per Kubernetes resource name: cpu in cores, memory in bytes, ``pods``, extended
    resources in their counts. A resource not named here is absent (zero), except
    ``ephemeral-storage``, which a template from configuration alone cannot know."""
    labels: Mapping[str, str]
    taints: tuple[Taint, ...] = ()

    @cached_property
    def allocatable_units(self) -> dict[str, int]:
        """Allocatable in ``scheduler_units``."""
        return {name: scheduler_units(name, value) for name, value in self.allocatable.items()}

    @cached_property
    def alike(self) -> tuple[Pairs, tuple[Taint, ...]]:
        """Labels but the hostname, and taints: templates alike here pass the same
        node filters for any pod that does not name a node (``PodShape.reads_hostname``)."""
        return (tuple(sorted((k, v) for k, v in self.labels.items() if k != HOSTNAME)),
                self.taints)


def configured_allocatable(machine: MachineSpec, pool: PoolSpec) -> dict[str, float]:
    """The machine's capacity less the pool's system reserve, by Kubernetes name."""
    capacity = machine.capacity
    allocatable = {
        RESOURCE_KEYS["cpu"]: capacity.cpu - pool.system_reserved.cpu,
        RESOURCE_KEYS["memory"]: capacity.memory - pool.system_reserved.memory,
        "pods": float(pool.max_pods),
    }
    if capacity.network:
        allocatable[RESOURCE_KEYS["network"]] = capacity.network
    if capacity.gpu:
        allocatable[RESOURCE_KEYS["gpu"]] = capacity.gpu
    allocatable.update(capacity.extended)
    return {name: max(value, 0.0) for name, value in allocatable.items()}


def template_for_machine(
    machine: MachineSpec, pool: PoolSpec, *, node_name: str = "",
    learned_allocatable: Mapping[str, float] | None = None,
    learned_labels: Mapping[str, str] | None = None,
) -> NodeTemplate:
    """The Node machine becomes: configuration, then what its Node last reported.

    ``node_name`` defaults to the machine's name (a Node has its machine's name unless
    the record says otherwise). Learned values are plain mappings, as parsed from the
    Node by ``controller.kube.scheduling.learned_from_node``; each learned key wins.
    Taints are the pool's only: a Node's own taints while it was up (not-ready,
    unschedulable, unconfirmed) say nothing of the Node it will be after joining.
    """
    name = node_name or machine.name
    allocatable = configured_allocatable(machine, pool)
    allocatable.update(learned_allocatable or {})
    pooled = pool_template(pool)
    labels = {**pooled.labels, HOSTNAME: name, **(learned_labels or {})}
    return NodeTemplate(name=name, allocatable=allocatable, labels=labels, taints=pooled.taints)


def pool_template(pool: PoolSpec) -> NodeTemplate:
    """What every node of the pool shares once joined: the pool's labels and taints,
    and ``kubernetes.io/os: linux`` (the kubelet sets it; the agent runs only on
    Linux). No name and no allocatable: for node filters, not for resources."""
    return NodeTemplate(name="", allocatable={}, labels={OS_LABEL: "linux", **pool.labels},
                        taints=tuple(Taint(t.key, t.value, t.effect) for t in pool.taints))
