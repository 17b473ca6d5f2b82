"""Machine records kept in BareMetalNode status: what a restarted controller resumes from.

The actuator writes a machine's record before each step (``powering-on`` before
the BMC is called); here that record becomes the BareMetalNode's status, so
``kubectl get bmn`` shows it and a new leader reads it back. Times are wall-clock
seconds in the record and RFC 3339 in the status; a machine the configuration
names but the cluster lacks gets its BareMetalNode created from the configuration,
marked ``spec.source: configuration`` so that no one takes it for a declaration
(``controller.kube.inventory`` follows those). The status also carries conditions
(``PowerOK``, ``Joined``, ``Overridden``) derived from the record and the machine's
``powerState``, so ``kubectl wait --for=condition=Joined`` works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from controller.config import SOURCE_CONFIGURATION, SOURCE_DECLARED, MachineSpec
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


def status_of(record: MachineRecord, *, held: str | None = None) -> JSON:
    """The status fields of a record (None clears a field in the merge patch);
    held: the machine's ``powerState`` when a person holds it."""
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
        "addresses": list(record.ips) or None,
        "hostAddresses": list(record.host_addresses) or None,
        "hardware": dict(record.hardware) or None,
        "allocatable": [{"resource": name, "quantity": _number(amount)}
                        for name, amount in record.allocatable] or None,
        "nodeLabels": [{"key": key, "value": value}
                       for key, value in record.node_labels] or None,
        "bmcFailures": record.bmc_failures, "quarantined": record.quarantined,
        "energy": {"joules": round(record.energy_joules, 3),
                   "alwaysOnJoules": round(record.always_on_joules, 3),
                   "since": _stamp(record.energy_since)} if record.energy_since else None,
        "conditions": conditions_of(record, held=held),
    }


def _number(amount: float) -> str:
    """An amount as a string that reads back exactly (bytes stay whole numbers)."""
    return str(int(amount)) if float(amount).is_integer() else repr(float(amount))


def conditions_of(record: MachineRecord, *, held: str | None) -> list[JSON]:
    """PowerOK (the last power call), Joined (the Node is Ready), Overridden (held),
    Quarantined (set aside after failed BMC calls)."""
    return [_power_ok(record), _joined(record), _overridden(held), _quarantined(record)]


def _condition(kind: str, status: bool | None, reason: str, message: str,
               since: float = 0.0) -> JSON:
    value = "Unknown" if status is None else str(status)
    condition: JSON = {"type": kind, "status": value, "reason": reason, "message": message}
    if since > 0:
        condition["lastTransitionTime"] = _stamp(since)
    return condition


def _power_ok(record: MachineRecord) -> JSON:
    if not record.power_action:
        return _condition("PowerOK", None, "NoPowerCall", "no power call made yet")
    call = f"power {record.power_action} with {record.power_driver}"
    if record.power_result == "ok":
        return _condition("PowerOK", True, "Succeeded", f"{call} succeeded",
                          record.power_time)
    return _condition("PowerOK", False, "Failed", f"{call} failed: {record.power_result}",
                      record.power_time)


def _joined(record: MachineRecord) -> JSON:
    if record.state in (MachineState.READY, MachineState.DRAINING):
        return _condition("Joined", True, "NodeReady",
                          f"Node {record.kubernetes_node} is Ready", record.since)
    reason = record.state.value.title().replace("-", "")
    return _condition("Joined", False, reason, f"the machine is {record.state.value}",
                      record.since)


def _quarantined(record: MachineRecord) -> JSON:
    if record.quarantined:
        return _condition("Quarantined", True, "BmcFailures",
                          f"set aside after {record.bmc_failures} failed BMC calls in a row; "
                          "probed until its BMC answers")
    return _condition("Quarantined", False, "BmcAnswers", "its BMC answers")


def _overridden(held: str | None) -> JSON:
    if held is None:
        return _condition("Overridden", False, "Auto", "the autoscaler decides (powerState: auto)")
    return _condition("Overridden", True, f"Held{held.title()}",
                      f"held {held} by a person (powerState: {held}); the autoscaler "
                      "leaves it alone")


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
        ips=tuple(str(ip) for ip in status.get("addresses") or ()),
        host_addresses=tuple(str(ip) for ip in status.get("hostAddresses") or ()),
        hardware=tuple(sorted((str(k), str(v))
                              for k, v in (status.get("hardware") or {}).items())),
        allocatable=tuple((str(item["resource"]), float(item["quantity"]))
                          for item in status.get("allocatable") or ()),
        node_labels=tuple((str(item["key"]), str(item.get("value") or ""))
                          for item in status.get("nodeLabels") or ()),
        bmc_failures=int(status.get("bmcFailures") or 0),
        quarantined=bool(status.get("quarantined")),
        **_energy(status.get("energy") or {}),
        **_power_call(status.get("lastPowerAction") or {}))


def _energy(energy: JSON) -> dict[str, Any]:
    return {"energy_joules": float(energy.get("joules") or 0),
            "always_on_joules": float(energy.get("alwaysOnJoules") or 0),
            "energy_since": _seconds(energy.get("since"))}


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
        "idleWatts": machine.idle_watts, "busyWatts": machine.busy_watts,
        "offWatts": machine.off_watts, "powerState": machine.power_state,
        "source": SOURCE_CONFIGURATION,
    }
    if capacity.extended:
        spec["capacity"]["extended"] = {name: f"{value:g}"
                                        for name, value in capacity.extended.items()}
    credentials = machine.power.credentials
    if credentials is not None and credentials.secret:
        spec["power"]["credentialsSecretRef"] = {"name": credentials.secret,
                                                 "namespace": credentials.namespace}
    if machine.mac:
        spec["mac"] = machine.mac
    return spec


def is_old_mirror(item: JSON, configured: set[str]) -> bool:
    """A BareMetalNode an earlier controller made from the configuration, before
    mirrors were marked: named like a configured machine, unmarked (so defaulted to
    ``declared``), with a status written but no conditions, which this controller
    writes for every machine it manages (a declaration it accepted has them)."""
    status = item.get("status") or {}
    return (item["metadata"]["name"] in configured
            and (item.get("spec") or {}).get("source", SOURCE_DECLARED) == SOURCE_DECLARED
            and bool(status.get("state")) and "conditions" not in status)


class BareMetalNodeStore:
    """A MachineStore over BareMetalNode status; ``ensure`` creates the missing objects."""

    def __init__(self, machines: BareMetalNodes, *,
                 held: Callable[[str], str | None] = lambda name: None) -> None:
        self.machines = machines
        self.held = held
        """A machine's ``powerState`` when a person holds it, for its conditions."""

    async def ensure(self, specs: Sequence[MachineSpec]) -> None:
        """Create a BareMetalNode for every configured machine that has none, and mark
        an earlier controller's unmarked ones (``is_old_mirror``) as mirrors."""
        items = await self.machines.list()
        configured = {spec.name for spec in specs}
        for item in items:
            if is_old_mirror(item, configured):
                name = item["metadata"]["name"]
                await self.machines.patch(name, {"spec": {"source": SOURCE_CONFIGURATION}})
                log.info("BareMetalNode %s marked as the configuration's", name)
        existing = {item["metadata"]["name"] for item in items}
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
        await self.machines.patch_status(name, status_of(record, held=self.held(name)))
