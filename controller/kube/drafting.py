"""A draft inventory from a running cluster: what ``bamel discover`` prints.

A home-lab or rack operator should have to type only how to reach each BMC: the
machine itself already told the cluster its name, capacity and labels, and its
agent told the controller its MACs. So the draft has one machine per Node, its
capacity from the Node's (the hardware; ``systemReserved`` takes off what the
kubelet keeps), its MAC from its BareMetalNode status when an agent reported one,
its addresses as a comment (a BMC usually has its own), and pools grouped by the
``bamel.io/pool`` label with the labels all their Nodes share. Each power driver is
the placeholder ``FILL-IN``, which every configuration check refuses with a message
saying what to write, so a draft cannot reach a cluster unfinished.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.config import PLACEHOLDER_DRIVER
from controller.config.loading import dump_yaml
from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.kube.resources import BareMetalNodes

POOL_LABEL = "bamel.io/pool"
DEFAULT_POOL = "general"
KUBELET_LABELS = ("kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch",
                  "beta.kubernetes.io/", "node.kubernetes.io/", "topology.kubernetes.io/",
                  "failure-domain.beta.kubernetes.io/")
"""Labels the kubelet or cloud code sets on every Node: not the operator's to keep."""
CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
"""A control-plane Node is left out: powering it off would stop the cluster."""
CAPACITY_KEYS = {"cpu": "cpu", "memory": "memory", "nvidia.com/gpu": "gpu",
                 "bamel.io/network": "network"}
"""Node resource → ``capacity`` field; other domain-named resources go to ``extended``."""


@dataclass(frozen=True)
class Found:
    """One Node as the draft needs it."""

    name: str
    pool: str
    capacity: dict[str, Any]
    labels: dict[str, str]
    addresses: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    hardware: dict[str, str] = field(default_factory=dict)
    """DMI vendor, product and serial its agent reported."""


async def discover(client: KubeClient, *, selector: str | None = None) -> tuple[
        list[Found], list[str]]:
    """The Nodes (matching selector) as machines, and the names of those left out."""
    query = {"labelSelector": selector} if selector else None
    nodes = (await client.request("GET", api_path("v1", "nodes"), query=query))["items"]
    reported = await _reported(client)
    found, skipped = [], []
    for node in sorted(nodes, key=lambda n: str(n["metadata"]["name"])):
        name = str(node["metadata"]["name"])
        labels = dict(node["metadata"].get("labels") or {})
        if any(role in labels for role in CONTROL_PLANE_ROLES):
            skipped.append(name)
            continue
        status = reported.get(name, {})
        agent_ips = [f"agent {ip}" for ip in status.get("hostAddresses") or ()]
        found.append(Found(name=name, pool=labels.get(POOL_LABEL, DEFAULT_POOL),
                           capacity=_capacity(node), labels=_kept(labels),
                           addresses=_addresses(node) + agent_ips,
                           macs=list(status.get("macs") or ()),
                           hardware=dict(status.get("hardware") or {})))
    return found, skipped


async def _reported(client: KubeClient) -> dict[str, JSON]:
    """What agents reported (MACs, DMI identity, addresses), from BareMetalNode status
    (nothing without the CRD)."""
    try:
        items = await BareMetalNodes(client).list()
    except KubeNotFound:
        return {}
    return {str(item["metadata"]["name"]): dict(item.get("status") or {}) for item in items}


def _capacity(node: JSON) -> dict[str, Any]:
    status = node.get("status") or {}
    resources: Mapping[str, str] = status.get("capacity") or status.get("allocatable") or {}
    capacity: dict[str, Any] = {}
    extended: dict[str, str] = {}
    for resource, value in resources.items():
        if resource in CAPACITY_KEYS:
            capacity[CAPACITY_KEYS[resource]] = str(value)
        elif "/" in resource:
            extended[resource] = str(value)
    if "gpu" in capacity:
        capacity["gpu"] = int(capacity["gpu"])
    if extended:
        capacity["extended"] = extended
    return capacity


def _kept(labels: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in labels.items()
            if not key.startswith(KUBELET_LABELS) and not key.startswith("node-role.")}


def _addresses(node: JSON) -> list[str]:
    return [f"{a['type']} {a['address']}" for a in (node.get("status") or {}).get("addresses")
            or [] if a.get("type") in ("InternalIP", "ExternalIP")]


def draft(found: Iterable[Found], *, skipped: Iterable[str] = (), origin: str = "") -> str:
    """The draft configuration document, with comments where a person must act."""
    machines = list(found)
    pools = _pools(machines)
    head = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
            "pools": pools}
    lines = [f"# Draft inventory from the Nodes of {origin or 'the cluster'} (bamel discover).",
             f"# Replace each driver {PLACEHOLDER_DRIVER} with how to reach the machine "
             "(ipmi, redfish, wol, ssh",
             "# or command) and its settings: bamel config check refuses the file until "
             "then."]
    lines += [f"# Left out (control plane): {name}" for name in skipped]
    text = "\n".join(lines) + "\n" + dump_yaml(head) + "machines:\n"
    if not machines:
        return text.replace("machines:\n", "machines: []\n")
    shared = {pool["name"]: pool["labels"] for pool in pools}
    for machine in machines:
        text += "".join(_machine_lines(machine, shared[machine.pool]))
    return text


def _pools(machines: list[Found]) -> list[dict[str, Any]]:
    """One pool per ``bamel.io/pool`` value, labelled with what all its Nodes share."""
    pools: dict[str, dict[str, str]] = {}
    for machine in machines:
        shared = pools.get(machine.pool)
        labels = {**machine.labels, POOL_LABEL: machine.pool}
        pools[machine.pool] = labels if shared is None else {
            key: value for key, value in shared.items() if labels.get(key) == value}
    if not pools:
        pools[DEFAULT_POOL] = {POOL_LABEL: DEFAULT_POOL}
    return [{"name": name, "labels": dict(sorted(labels.items()))}
            for name, labels in sorted(pools.items())]


def _machine_lines(machine: Found, pool_labels: Mapping[str, str]) -> Iterator[str]:
    if machine.hardware:
        words = [machine.hardware.get(key, "") for key in ("vendor", "product")]
        serial = machine.hardware.get("serial")
        yield (f"# {machine.name}: {' '.join(w for w in words if w) or 'unnamed'}"
               + (f", serial {serial}" if serial else "") + "\n")
    if machine.addresses:
        yield f"# {machine.name}: {', '.join(machine.addresses)}\n"
    own = [f"{key}={value}" for key, value in sorted(machine.labels.items())
           if pool_labels.get(key) != value]
    if own:
        yield f"# {machine.name}: labels its pool does not share: {', '.join(own)}\n"
    if len(machine.macs) > 1:
        yield f"# {machine.name}: its agent reported MACs {', '.join(machine.macs)}\n"
    entry: dict[str, Any] = {"name": machine.name, "pool": machine.pool,
                             "capacity": machine.capacity}
    if machine.macs:
        entry["mac"] = machine.macs[0]
    entry["power"] = {"on": {"driver": PLACEHOLDER_DRIVER, "settings": {}},
                      "off": {"driver": PLACEHOLDER_DRIVER, "settings": {}}}
    body = dump_yaml([entry])
    yield body
