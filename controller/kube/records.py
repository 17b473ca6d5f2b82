"""Machine records kept in BareMetalNode status: what a restarted controller resumes from.

The actuator writes a machine's record before each step (``powering-on`` before
the BMC is called); here that record becomes the BareMetalNode's status, so
``kubectl get bmn`` shows it and a new leader reads it back. Times are wall-clock
seconds in the record and RFC 3339 in the status; a machine the configuration
names but the cluster lacks gets its BareMetalNode created from the configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from controller.config import MachineSpec
from controller.kube.client import JSON
from controller.kube.errors import KubeConflict
from controller.kube.resources import BareMetalNodes
from controller.machines import MachineRecord
from controller.planning import MachineState

log = logging.getLogger(__name__)


def _stamp(seconds: float) -> str | None:
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(stamp: Any) -> float:
    if not stamp:
        return 0.0
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def status_of(record: MachineRecord) -> JSON:
    """The status fields of a record (None clears a field in the merge patch)."""
    return {
        "state": record.state.value, "since": _stamp(record.since),
        "failures": record.failures, "drainRefusals": record.drain_refusals,
        "backoffUntil": _stamp(record.backoff_until),
        "lastError": record.last_error or None, "lastAction": record.last_action or None,
        "powerState": record.power_state, "kubernetesNode": record.kubernetes_node or None,
        "observedBootSeconds": round(record.observed_boot_seconds),
        "averageBootSeconds": round(record.average_boot_seconds, 1) or None,
        "lastPowerAction": {"action": record.power_action, "driver": record.power_driver,
                            "time": _stamp(record.power_time),
                            "result": record.power_result} if record.power_action else None,
        "macs": list(record.macs) or None,
        "allocatable": [{"resource": name, "quantity": _number(amount)}
                        for name, amount in record.allocatable] or None,
        "nodeLabels": [{"key": key, "value": value}
                       for key, value in record.node_labels] or None,
        "bmcFailures": record.bmc_failures, "quarantined": record.quarantined,
    }


def _number(amount: float) -> str:
    """An amount as a string that reads back exactly (bytes stay whole numbers)."""
    return str(int(amount)) if float(amount).is_integer() else repr(float(amount))


def record_of(status: JSON) -> MachineRecord:
    """A record from a status; an object without status is a machine that is off."""
    if not status.get("state"):
        return MachineRecord()
    return MachineRecord(
        state=MachineState(status["state"]), since=_seconds(status.get("since")),
        failures=int(status.get("failures") or 0),
        drain_refusals=int(status.get("drainRefusals") or 0),
        backoff_until=_seconds(status.get("backoffUntil")),
        last_error=str(status.get("lastError") or ""),
        last_action=str(status.get("lastAction") or ""),
        power_state=str(status.get("powerState") or "unknown"),
        kubernetes_node=str(status.get("kubernetesNode") or ""),
        observed_boot_seconds=float(status.get("observedBootSeconds") or 0),
        average_boot_seconds=float(status.get("averageBootSeconds") or 0),
        macs=tuple(str(mac) for mac in status.get("macs") or ()),
        allocatable=tuple((str(item["resource"]), float(item["quantity"]))
                          for item in status.get("allocatable") or ()),
        node_labels=tuple((str(item["key"]), str(item.get("value") or ""))
                          for item in status.get("nodeLabels") or ()),
        bmc_failures=int(status.get("bmcFailures") or 0),
        quarantined=bool(status.get("quarantined")),
        **_power_call(status.get("lastPowerAction") or {}))


def _power_call(action: JSON) -> dict[str, Any]:
    return {"power_action": str(action.get("action") or ""),
            "power_driver": str(action.get("driver") or ""),
            "power_time": _seconds(action.get("time")),
            "power_result": str(action.get("result") or "")}


def spec_of(machine: MachineSpec) -> JSON:
    """The BareMetalNode spec that mirrors a configured machine (the config is the source)."""
    capacity = machine.capacity
    spec: JSON = {
        "pool": machine.pool,
        "capacity": {"cpu": f"{capacity.cpu:g}", "memory": f"{capacity.memory:.0f}",
                     "network": f"{capacity.network:.0f}", "gpu": int(capacity.gpu)},
        "power": {"on": {"driver": machine.power.on.driver,
                         "settings": dict(machine.power.on.settings)},
                  "off": {"driver": machine.power.off.driver,
                          "settings": dict(machine.power.off.settings)}},
        "bootTime": round(machine.boot_time),
    }
    credentials = machine.power.credentials
    if credentials is not None and credentials.secret:
        spec["power"]["credentialsSecretRef"] = {"name": credentials.secret,
                                                 "namespace": credentials.namespace}
    if machine.mac:
        spec["mac"] = machine.mac
    return spec


class BareMetalNodeStore:
    """A MachineStore over BareMetalNode status; ``ensure`` creates the missing objects."""

    def __init__(self, machines: BareMetalNodes) -> None:
        self.machines = machines

    async def ensure(self, specs: Sequence[MachineSpec]) -> None:
        """Create a BareMetalNode for every configured machine that has none."""
        existing = {item["metadata"]["name"] for item in await self.machines.list()}
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                await self.machines.create_machine(spec.name, spec_of(spec))
                await self.put(spec.name, MachineRecord())
                log.info("created BareMetalNode %s", spec.name)
            except KubeConflict:
                pass  # another replica created it first

    async def load(self) -> dict[str, MachineRecord]:
        """Every machine's record from its status."""
        return {item["metadata"]["name"]: record_of(item.get("status") or {})
                for item in await self.machines.list()}

    async def put(self, name: str, record: MachineRecord) -> None:
        """Write the record; returns once the API server has stored it."""
        await self.machines.patch_status(name, status_of(record))
