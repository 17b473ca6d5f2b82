"""Warm capacity: free allocatable a pool keeps ready, so the next pods start without
a boot.

Scaling on pressure and pending pods answers a need once it is there: the pods
then wait a boot (minutes on physical machines). A pool's ``spare`` keeps room
ahead of them, as Slurm keeps idle nodes (SuspendExcNodes) and the Cluster
Autoscaler and Karpenter keep capacity buffers: either requests (``cpu``,
``memory``: the free allocatable summed over the pool's Ready nodes) or ``nodes``
(Ready nodes running no workload pod). The pool powers machines on (in the
scorer's order) while it has less, and offers no machine for power-off that would
leave it with less.

What is free comes from the scheduler's view when the snapshot has one: each Ready
node's allocatable less its pods' requests; a machine on its way, or Ready but not
yet in the view, counts as an empty node of its template. Without a view (the trace
simulator has pressure, not pods) it is the Ready machines' configured allocatable
less what the pressure level says is used (utilisation = level ** (1 / exponent),
the sizing model of ``scoring.pressure``) and less the pending requests; ``nodes: N``
then asks for N times the pool's mean machine allocatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from controller.config.schema import PoolSpec
from controller.planning.constraints import SchedulingView
from controller.planning.disruption import TERMINAL_PHASES, evicted
from controller.planning.scaledown import NodeState
from controller.planning.snapshot import MachineState, MachineView, PoolSignal
from controller.planning.templates import NodeTemplate
from scoring.model import FloatArray

KEPT = ("cpu", "memory")
"""The resources a spare is given in, in RESOURCES order (columns 0 and 1)."""


@dataclass(frozen=True)
class Warmth:
    """A pool's free capacity now, and what each Ready machine adds to it."""

    free: FloatArray
    """(cpu, memory) free on Ready nodes and on the way."""
    idle: int
    """Ready nodes without a workload pod, and machines on the way."""
    offers: Mapping[str, FloatArray]
    """Ready machine → the (cpu, memory) allocatable that goes when it does."""
    knows_idle: bool
    """Whether ``idle`` was counted (from the view): else ``nodes`` is measured in
    requests."""


@dataclass(frozen=True)
class Shortfall:
    """What the pool lacks: the demand to score machines by, and how many at most."""

    demand: FloatArray
    """(cpu, memory) to power on."""
    machines: int | None
    """For ``nodes``: how many machines to power on; None: as many as the demand takes."""
    reason: str


def warmth(pool: PoolSpec, machines: list[MachineView], *, view: SchedulingView | None,
           signal: PoolSignal, exponent: FloatArray | None) -> Warmth:
    """The pool's free capacity, from the view when there is one."""
    if view is not None:
        return _from_view(machines, view)
    return _from_pressure(pool, machines, signal, exponent)


def shortfall(pool: PoolSpec, warm: Warmth, machines: list[MachineView]) -> Shortfall | None:
    """What the pool must power on to hold its spare, or None when it holds it."""
    spare = pool.spare
    if spare.nodes and warm.knows_idle:
        missing = spare.nodes - warm.idle
        if missing <= 0:
            return None
        # Any machine is one idle node: score against the smallest, so the least
        # capacity (and power) is kept idle.
        smallest = np.min([m.capacity[:2] for m in machines], axis=0) if machines \
            else np.zeros(2)
        return Shortfall(smallest * missing, missing,
                         f"warm capacity: {warm.idle} idle node(s), spare asks {spare.nodes}")
    target = _target(pool, machines)
    demand = np.maximum(target - warm.free, 0.0)
    if not (demand > 0).any():
        return None
    return Shortfall(demand, None, f"warm capacity: {_amounts(warm.free)} free, "
                                   f"spare asks {_amounts(target)}")


def power_off_exclusions(pool: PoolSpec, warm: Warmth,
                         machines: list[MachineView]) -> dict[str, str]:
    """Machine → why powering it off would leave less than the spare, for each such one."""
    spare = pool.spare
    if spare.nodes and warm.knows_idle:
        if warm.idle - 1 >= spare.nodes:
            return {}
        why = f"warm capacity: {warm.idle} idle node(s), spare asks {spare.nodes}"
        return {m.name: why for m in machines if m.name in warm.offers}
    target = _target(pool, machines)
    excluded = {}
    for name, offer in warm.offers.items():
        after = warm.free - offer
        if ((after < target) & (target > 0)).any():
            excluded[name] = (f"warm capacity: {_amounts(np.maximum(after, 0.0))} would "
                              f"be free, spare asks {_amounts(target)}")
    return excluded


def _target(pool: PoolSpec, machines: list[MachineView]) -> FloatArray:
    spare = pool.spare
    if spare.nodes:
        return spare.nodes * _mean_allocatable(pool, machines)
    return np.array([spare.cpu, spare.memory], dtype=np.float64)


def _from_view(machines: list[MachineView], view: SchedulingView) -> Warmth:
    nodes = {node.name: node for node in view.nodes}
    free, idle, offers = np.zeros(2), 0, {}
    for machine in machines:
        node = nodes.get(machine.node_name)
        template = view.templates.get(machine.name)
        if machine.state is MachineState.READY and node is not None:
            offers[machine.name] = _allocatable(node.template)
            free += np.maximum(offers[machine.name] - _requested(node), 0.0)
            idle += not evicted(node.pods)
        elif (machine.state is MachineState.READY or machine.state.in_flight_up) \
                and template is not None:
            # On its way, or Ready before the view shows its Node: an empty node.
            if machine.state is MachineState.READY:
                offers[machine.name] = _allocatable(template)
            free += _allocatable(template)
            idle += 1
    return Warmth(free, idle, offers, knows_idle=True)


def _from_pressure(pool: PoolSpec, machines: list[MachineView], signal: PoolSignal,
                   exponent: FloatArray | None) -> Warmth:
    offers = {m.name: _configured(pool, m) for m in machines
              if m.state is MachineState.READY}
    ready, arriving = np.zeros(2), np.zeros(2)
    for machine in machines:
        if machine.state is MachineState.READY:
            ready += offers[machine.name]
        elif machine.state.in_flight_up:
            arriving += _configured(pool, machine)
    power = 1.0 / exponent[:2] if exponent is not None else 1.0
    used = ready * np.clip(signal.levels[:2], 0.0, 1.0) ** power
    free = np.maximum(ready - used - signal.pending[:2], 0.0) + arriving
    return Warmth(free, 0, offers, knows_idle=False)


def _mean_allocatable(pool: PoolSpec, machines: list[MachineView]) -> FloatArray:
    if not machines:
        return np.zeros(2)
    mean: FloatArray = np.mean([_configured(pool, m) for m in machines], axis=0)
    return mean


def _configured(pool: PoolSpec, machine: MachineView) -> FloatArray:
    reserved = np.array([pool.system_reserved.cpu, pool.system_reserved.memory])
    allocatable: FloatArray = np.maximum(machine.capacity[:2] - reserved, 0.0)
    return allocatable


def _allocatable(template: NodeTemplate) -> FloatArray:
    return np.array([template.allocatable.get(r, 0.0) for r in KEPT], dtype=np.float64)


def _requested(node: NodeState) -> FloatArray:
    total = np.zeros(2)
    for pod in node.pods:
        if pod.phase not in TERMINAL_PHASES:
            requests = pod.shape.request_map
            total += np.array([requests.get(r, 0.0) for r in KEPT])
    return total


def _amounts(values: FloatArray) -> str:
    cpu, memory = (float(v) for v in values)
    return f"cpu {cpu:g}, memory {memory / 2**30:.4g}Gi"
