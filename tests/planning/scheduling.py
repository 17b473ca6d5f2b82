"""Builders for the scheduling-model tests: pods, node templates and budgets in a few words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controller.planning.disruption import DisruptionBudget
from controller.planning.pods import (
    HOSTNAME,
    AntiAffinityTerm,
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    Owner,
    Pod,
    PodShape,
    Requirement,
    Toleration,
    Volume,
)
from controller.planning.scaledown import NodeState
from controller.planning.templates import NodeTemplate, Taint

GiB = 2.0**30


def pod(name: str, *, cpu: float = 0.0, memory: float = 0.0, gpu: float = 0.0,
        namespace: str = "default", labels: Mapping[str, str] | None = None,
        extra: Mapping[str, float] | None = None, selector: Mapping[str, str] | None = None,
        affinity: Iterable[NodeSelectorTerm] = (), tolerations: Iterable[Toleration] = (),
        anti: Iterable[AntiAffinityTerm] = (), ports: Iterable[int] = (),
        owner: str | None = "ReplicaSet", priority: int = 0, gated: bool = False,
        nominated: str = "", annotations: Mapping[str, str] | None = None,
        volumes: Iterable[tuple[str, str]] = (), phase: str = "Running",
        unmodelled: Iterable[str] = ()) -> Pod:
    """A pod asking cpu cores, memory bytes and gpu devices, and whatever else is said."""
    requests = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpu, **(extra or {})}
    shape = PodShape.of(namespace=namespace, labels=labels, requests=requests,
                        node_selector=selector, node_affinity=affinity,
                        tolerations=tolerations, anti_affinity=anti,
                        host_ports=[HostPort(port) for port in ports])
    return Pod(namespace, name, shape, priority=priority, scheduling_gated=gated,
               nominated_node=nominated, owner=Owner(owner) if owner else None,
               annotations=dict(annotations or {}),
               volumes=tuple(Volume(n, kind) for n, kind in volumes), phase=phase,
               unmodelled=tuple(unmodelled))


def node(name: str, *, cpu: float = 4.0, memory: float = 16 * GiB, pods: int = 110,
         gpu: float = 0.0, labels: Mapping[str, str] | None = None,
         taints: Iterable[Taint] = (), extra: Mapping[str, float] | None = None) -> NodeTemplate:
    allocatable = {"cpu": cpu, "memory": memory, "pods": float(pods), **(extra or {})}
    if gpu:
        allocatable["nvidia.com/gpu"] = gpu
    return NodeTemplate(name, allocatable, {HOSTNAME: name, **(labels or {})}, tuple(taints))


def state(template: NodeTemplate, *pods: Pod,
          annotations: Mapping[str, str] | None = None) -> NodeState:
    return NodeState(template, pods, dict(annotations or {}))


def spread(app: str, namespaces: Iterable[str] | None = ("default",)) -> AntiAffinityTerm:
    """Required anti-affinity on the hostname against pods labelled app=app."""
    return AntiAffinityTerm(LabelSelector.of({"app": app}),
                            None if namespaces is None else frozenset(namespaces))


def term(*expressions: tuple[str, str, tuple[str, ...]]) -> NodeSelectorTerm:
    return NodeSelectorTerm(tuple(Requirement(k, op, v) for k, op, v in expressions))


def budget(app: str, allowed: int, namespace: str = "default") -> DisruptionBudget:
    return DisruptionBudget(namespace, f"{app}-pdb", LabelSelector.of({"app": app}), allowed)
