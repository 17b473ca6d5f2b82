"""Small fleets and traces for simulation tests, built in a few words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.config.loading import dump_yaml
from simulation import Fleet, Trace, load_fleet_text, load_trace


def fleet_document(*, count: int = 4, shapes: list[dict[str, Any]] | None = None,
                   pool: dict[str, Any] | None = None,
                   world: dict[str, Any] | None = None) -> dict[str, Any]:
    """One pool "general" of ``count`` 8-core machines unless shapes are given."""
    pool_doc: dict[str, Any] = {
        "name": "general",
        "scaleUp": {"stabilizationWindow": "30s", "maxPerMinute": 10, "batch": 4,
                    "cooldown": "2m"},
        "scaleDown": {"unneededTime": "2m", "maxConcurrent": 2, "minUptime": "5m"},
    }
    pool_doc.update(pool or {})
    default_shape = {"name": "node", "pool": "general", "count": count,
                     "capacity": {"cpu": 8, "memory": "32Gi", "network": "10G"},
                     "bootTime": {"min": "2m", "max": "2m"}, "idleWatts": 100,
                     "busyWatts": 300, "offWatts": 5}
    return {"apiVersion": "bamel.io/v1alpha1", "kind": "SimulationFleet",
            "pools": [pool_doc], "shapes": shapes or [default_shape], "world": world or {}}


def fleet(**kwargs: Any) -> Fleet:
    return load_fleet_text(dump_yaml(fleet_document(**kwargs)))


def trace_file(path: Path, cpu: list[float], *, network: list[float] | None = None) -> Path:
    """A percent CSV with cpu (and network) columns, one row per value."""
    network = network or [0.0] * len(cpu)
    lines = ["cpu_util,net_util"] + [f"{c},{n}" for c, n in zip(cpu, network, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def trace(path: Path, cpu: list[float], *, stride: str = "60s",
          network: list[float] | None = None) -> Trace:
    trace_file(path, cpu, network=network)
    return load_trace(path, mapping={"cpu": "cpu_util", "network": "net_util"}, stride=stride)
