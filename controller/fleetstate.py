"""What the fleet is doing now: each machine's state and each pool's draw as gauges, and
each pool's counts and resources as its NodePool status.

The dashboard's "machine states over time" and "energy" panels read these. Draw is
estimated, not metered: a machine off draws its standby watts, a machine up draws
its idle watts plus the busy share scaled by its node's CPU pressure level (the
simplest proxy for utilisation the agents report), the same model the simulator
uses for its savings figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.config import RESOURCES, AutoscalerConfig, MachineSpec
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState

_STANDBY = (MachineState.OFF, MachineState.ERROR)
_LOADED = (MachineState.READY, MachineState.DRAINING)


def machine_watts(spec: MachineSpec, state: MachineState, cpu_level: float) -> float:
    """Estimated draw of one machine in state at cpu_level (0..1)."""
    if state in _STANDBY:
        return spec.off_watts
    if state in _LOADED:
        share = min(max(cpu_level, 0.0), 1.0)
        return spec.idle_watts + (spec.busy_watts - spec.idle_watts) * share
    return spec.idle_watts


def publish(metrics: ControllerMetrics, config: AutoscalerConfig,
            records: Mapping[str, MachineRecord], cpu_level: Callable[[str], float],
            *, machine: str | None = None) -> None:
    """Set the state gauges of every machine (or of ``machine`` only, after its record
    changed) and the estimated watts of every pool (or of that machine's pool)."""
    pools = {spec.pool for spec in config.machines if spec.name == machine} \
        if machine is not None else {pool.name for pool in config.pools}
    watts = dict.fromkeys(pools, 0.0)
    for spec in config.machines:
        if spec.pool not in watts:
            continue
        record = records.get(spec.name, MachineRecord())
        if machine is None or spec.name == machine:
            for state in MachineState:
                metrics.machine_state.labels(spec.name, spec.pool, state.value).set(
                    1.0 if state is record.state else 0.0)
        node = record.kubernetes_node or spec.name
        watts[spec.pool] += machine_watts(spec, record.state, cpu_level(node))
    for pool, total in watts.items():
        metrics.energy_watts.labels(pool).set(total)


def pool_status(config: AutoscalerConfig, pool: str, records: Mapping[str, MachineRecord],
                pending: tuple[Sequence[float], int]) -> dict[str, Any]:
    """A NodePool's status: counts, resources and scaling conditions, from the records.

    ``desired`` counts the machines that are or will be on (ready or booting);
    ``nodesScaling`` those on their way up or down. Resource quantities are plain
    numbers as strings (cores, bytes, bits per second, devices).
    """
    states = {spec.name: records.get(spec.name, MachineRecord()).state
              for spec in config.machines if spec.pool == pool}
    specs = [spec for spec in config.machines if spec.pool == pool]
    ready = [s for s in specs if states[s.name] is MachineState.READY]
    arriving = [s for s in specs if states[s.name].in_flight_up]
    leaving = [s for s in specs if states[s.name] in _LEAVING]
    requests, pods = pending
    limits = config.pool(pool).limits
    at_max = bool(limits.max_nodes) and len(ready) + len(arriving) >= limits.max_nodes
    return {
        "ready": len(ready), "pending": pods, "desired": len(ready) + len(arriving),
        "nodesScaling": len(arriving) + len(leaving),
        "availableResources": _resources(ready),
        "activeResources": _resources(ready + arriving),
        "pendingResources": {r: f"{v:g}" for r, v in zip(RESOURCES, requests, strict=True)},
        "conditions": [
            _condition("ScalingUp", bool(arriving), f"{len(arriving)} machine(s) booting"),
            _condition("ScalingDown", bool(leaving), f"{len(leaving)} machine(s) leaving"),
            _condition("AtMaxNodes", at_max, f"maxNodes is {limits.max_nodes}"),
        ],
    }


_LEAVING = (MachineState.DRAINING, MachineState.POWERING_OFF)


def _resources(specs: Sequence[MachineSpec]) -> dict[str, str]:
    totals = [sum(spec.capacity.vector()[i] for spec in specs) for i in range(len(RESOURCES))]
    return {r: f"{v:.0f}" if r in ("memory", "network") else f"{v:g}"
            for r, v in zip(RESOURCES, totals, strict=True)}


def _condition(kind: str, active: bool, message: str) -> dict[str, str]:
    if not active:
        return {"type": kind, "status": "False", "reason": "Steady"}
    return {"type": kind, "status": "True", "reason": kind, "message": message}
