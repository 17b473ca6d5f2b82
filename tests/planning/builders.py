"""Builders for planner tests: a config, machine views and signals in a few words."""

from __future__ import annotations

from typing import Any

import numpy as np

from controller.config import AutoscalerConfig, load_config_text
from controller.config.loading import dump_yaml
from controller.planning import (
    ActionKind,
    MachineState,
    MachineView,
    Planner,
    PlanResult,
    PoolMemory,
    PoolSignal,
    Snapshot,
)

GiB = 2.0**30
SHAPES = {
    "cpu-heavy": (64, 128 * GiB, 10e9, 0),
    "mem-heavy": (16, 512 * GiB, 10e9, 0),
    "small": (8, 32 * GiB, 1e9, 0),
    "gpu-box": (16, 64 * GiB, 10e9, 1),
}


def config(pool: dict[str, Any] | None = None, machines: dict[str, str] | None = None,
           scoring: dict[str, Any] | None = None) -> AutoscalerConfig:
    """One pool "general" with the given overrides and machines name → shape."""
    pool_doc: dict[str, Any] = {"name": "general", "scaleUp": {"stabilizationWindow": "30s"},
                                "scaleDown": {"unneededTime": "5m", "minUptime": "10m"}}
    for key, value in (pool or {}).items():
        if isinstance(value, dict):
            pool_doc.setdefault(key, {}).update(value)
        else:
            pool_doc[key] = value
    machine_docs = []
    for name, shape in (machines or {}).items():
        cpu, memory, network, gpu = SHAPES[shape]
        machine_docs.append({
            "name": name, "pool": "general",
            "capacity": {"cpu": cpu, "memory": memory, "network": network, "gpu": gpu},
            "power": {"on": {"driver": "fake"}, "off": {"driver": "fake"}},
            "bootTime": "2m", "idleWatts": 100, "busyWatts": 300,
        })
    document = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
                "pools": [pool_doc], "machines": machine_docs, "scoring": scoring or {}}
    return load_config_text(dump_yaml(document))


def machine(name: str, shape: str, state: MachineState = MachineState.OFF, *,
            since: float = 0.0, failures: int = 0, backoff_until: float = 0.0,
            watts: float = 100.0) -> MachineView:
    return MachineView(name=name, pool="general", capacity=np.array(SHAPES[shape], dtype=float),
                       state=state, since=since, boot_seconds=120.0, idle_watts=watts,
                       failures=failures, backoff_until=backoff_until)


def signal(cpu: float = 0.0, memory: float = 0.0, network: float = 0.0, *,
           rates: tuple[float, float, float] = (0.0, 0.0, 0.0),
           pending: tuple[float, float] = (0.0, 0.0), pods: int = 0) -> PoolSignal:
    return PoolSignal(levels=np.array([cpu, memory, network, 0.0]),
                      rates=np.array([*rates, 0.0]),
                      pending=np.array([pending[0], pending[1], 0.0, 0.0]), pending_pods=pods)


def plan(cfg: AutoscalerConfig, machines: list[MachineView], sig: PoolSignal,
         now: float = 1000.0, memory: dict[str, PoolMemory] | None = None) -> PlanResult:
    """One planner pass over pool "general"."""
    return Planner(cfg).plan(Snapshot(now=now, config=cfg, machines=tuple(machines),
                                      signals={"general": sig}, memory=memory or {}))


def powered_on(result: PlanResult) -> list[str]:
    return [a.machine for a in result.actions if a.kind is ActionKind.POWER_ON]


def powered_off(result: PlanResult) -> list[str]:
    return [a.machine for a in result.actions if a.kind is ActionKind.POWER_OFF]
