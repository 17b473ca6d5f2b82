"""What the lab's rack holds: machines of different shapes, their pools, the timings.

A fleet is plain data, so the demo and each end-to-end test can say exactly which
machines exist and how quickly things happen, and the configuration the controller
reads is rendered from it once the power peers have their ports (``config_document``).

The demo fleet mixes shapes so that choosing the right machine matters: two
CPU-heavy, two memory-heavy, one network-heavy, two small ones and a GPU box in a
pool of its own; and it mixes power paths (ipmi_sim, sushy-emulator systems, and
Wake-on-LAN on with SSH off) so that every driver is exercised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.config.units import parse_quantity

PowerKind = Literal["ipmi", "redfish", "wol-ssh"]
POOL_LABEL = "bamel.io/pool"
SHAPE_LABEL = "lab.bamel.io/shape"
GPU_RESOURCE = "nvidia.com/gpu"
NETWORK_RESOURCE = "bamel.io/network"


@dataclass(frozen=True)
class MachinePlan:
    """One machine: its shape, its power path and its boot."""

    name: str
    pool: str
    shape: str
    """Free text shown in the view and set as the node label ``lab.bamel.io/shape``."""
    cpu: str
    memory: str
    network: str = "10G"
    """Link capacity in bit/s, also advertised as the ``bamel.io/network`` resource."""
    gpu: int = 0
    power: PowerKind = "ipmi"
    boot_delay: float = 3.0
    """Seconds from power on (as the peer reports it) to the Node registering."""
    chassis_delay: float = 0.0
    """Seconds an IPMI chassis takes to change power after the command (ipmi only)."""
    idle_watts: float = 100.0
    busy_watts: float = 300.0
    off_watts: float = 5.0
    mac: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the machine's own kubelet sets (hardware facts), not the pool's."""

    def node_capacity(self) -> dict[str, str]:
        """The Node's capacity: cpu, memory, pods, and the extended resources."""
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": "110",
                    NETWORK_RESOURCE: str(int(parse_quantity(self.network)))}
        if self.gpu:
            capacity[GPU_RESOURCE] = str(self.gpu)
        return capacity

    def node_labels(self) -> dict[str, str]:
        return {SHAPE_LABEL: self.shape, **self.labels}

    def quantities(self) -> dict[str, float]:
        """Capacity in base units: cores, bytes, bit/s, devices."""
        return {"cpu": parse_quantity(self.cpu), "memory": parse_quantity(self.memory),
                "network": parse_quantity(self.network), "gpu": float(self.gpu)}


@dataclass(frozen=True)
class PoolPlan:
    name: str
    min_nodes: int = 0
    max_nodes: int = 0
    taints: tuple[Mapping[str, str], ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        return {POOL_LABEL: self.name}


@dataclass(frozen=True)
class Timings:
    """The pools' windows, shortened from production's minutes to lab seconds."""

    stabilization_window: str = "3s"
    cooldown: str = "20s"
    unneeded_time: str = "15s"
    min_uptime: str = "20s"
    drain_timeout: str = "30s"
    boot_time: str = "8s"
    """What the controller expects; each machine's boot_delay stays below it."""
    scale_up_per_minute: int = 6
    scale_up_batch: int = 2
    scale_down_per_minute: int = 4
    scale_down_concurrent: int = 2


@dataclass(frozen=True)
class Fleet:
    pools: tuple[PoolPlan, ...]
    machines: tuple[MachinePlan, ...]
    timings: Timings = field(default_factory=Timings)


GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}

DEMO_FLEET = Fleet(
    pools=(PoolPlan("general", min_nodes=1, max_nodes=7),
           PoolPlan("gpu", max_nodes=1, taints=(GPU_TAINT,))),
    machines=(
        MachinePlan("small-1", "general", "small", "4", "16Gi", power="ipmi",
                    boot_delay=2.5, idle_watts=40, busy_watts=120, mac="52:54:00:1a:00:01"),
        MachinePlan("cpu-1", "general", "cpu-heavy", "32", "32Gi", power="ipmi",
                    boot_delay=4, idle_watts=150, busy_watts=450, mac="52:54:00:1a:00:02"),
        MachinePlan("mem-1", "general", "memory-heavy", "8", "256Gi", power="ipmi",
                    boot_delay=4, idle_watts=130, busy_watts=300, mac="52:54:00:1a:00:03"),
        MachinePlan("cpu-2", "general", "cpu-heavy", "32", "32Gi", power="redfish",
                    boot_delay=3, idle_watts=150, busy_watts=450, mac="52:54:00:1a:00:04"),
        MachinePlan("mem-2", "general", "memory-heavy", "8", "256Gi", power="redfish",
                    boot_delay=3, idle_watts=130, busy_watts=300, mac="52:54:00:1a:00:05"),
        MachinePlan("net-1", "general", "network-heavy", "8", "32Gi", network="100G",
                    power="wol-ssh", boot_delay=3, idle_watts=90, busy_watts=220,
                    mac="52:54:00:1a:00:06"),
        MachinePlan("edge-1", "general", "small", "4", "8Gi", network="1G", power="wol-ssh",
                    boot_delay=2, idle_watts=25, busy_watts=80, mac="52:54:00:1a:00:07"),
        MachinePlan("gpu-1", "gpu", "gpu", "16", "64Gi", network="25G", gpu=4,
                    power="redfish", boot_delay=4, idle_watts=200, busy_watts=900,
                    mac="52:54:00:1a:00:08", labels={"nvidia.com/gpu.present": "true"}),
    ),
)


@dataclass(frozen=True)
class Wiring:
    """How the controller reaches one machine's power peer: the config's ``power`` and ``mac``."""

    on: Mapping[str, Any]
    off: Mapping[str, Any]
    credentials: Mapping[str, str] | None = None
    mac: str | None = None


def config_document(fleet: Fleet, wiring: Mapping[str, Wiring]) -> dict[str, Any]:
    """The AutoscalerConfig for fleet, each machine reached as wiring says."""
    t = fleet.timings
    pools = [{
        "name": pool.name, "labels": pool.labels, "taints": [dict(x) for x in pool.taints],
        "limits": {"minNodes": pool.min_nodes, "maxNodes": pool.max_nodes},
        "scaleUp": {"stabilizationWindow": t.stabilization_window, "cooldown": t.cooldown,
                    "maxPerMinute": t.scale_up_per_minute, "batch": t.scale_up_batch},
        "scaleDown": {"unneededTime": t.unneeded_time, "minUptime": t.min_uptime,
                      "drainTimeout": t.drain_timeout,
                      "maxPerMinute": t.scale_down_per_minute,
                      "maxConcurrent": t.scale_down_concurrent},
    } for pool in fleet.pools]
    machines = []
    for plan in fleet.machines:
        wired = wiring[plan.name]
        power: dict[str, Any] = {"on": dict(wired.on), "off": dict(wired.off)}
        if wired.credentials:
            power["credentials"] = dict(wired.credentials)
        capacity: dict[str, Any] = {"cpu": plan.cpu, "memory": plan.memory,
                                    "network": plan.network}
        if plan.gpu:
            capacity["gpu"] = plan.gpu
        machine: dict[str, Any] = {
            "name": plan.name, "pool": plan.pool, "capacity": capacity, "power": power,
            "bootTime": t.boot_time, "idleWatts": plan.idle_watts,
            "busyWatts": plan.busy_watts, "offWatts": plan.off_watts}
        if wired.mac:
            machine["mac"] = wired.mac
        machines.append(machine)
    return {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
            "pools": pools, "machines": machines}
