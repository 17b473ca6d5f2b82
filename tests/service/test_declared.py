"""Machines declared as BareMetalNode objects with ``kubectl apply``, beside the ConfigMap.

Real peers: the control plane (kubectl 1.20 applies and deletes the objects, the
CRD's defaults and finalizers are the API server's), an IPMI BMC, and a hollow
kubelet that registers the machine's Node while the BMC says on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controller.config import load_config
from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.kube.inventory import FINALIZER
from controller.kube.records import spec_of
from controller.kube.resources import BareMetalNodes
from tests.service.rig import PoweredNode, eventually, replica_set, running
from tests.service.test_service import World, bmc, machine_status, world

pytestmark = pytest.mark.integration

__all__ = ["bmc", "world"]

BMN = api_path("bamel.io/v1alpha1", "baremetalnodes")


def pool_only(world: World) -> str:
    """The rig's configuration with its pool and no machine."""
    text = world.config.read_text()
    return text[:text.index("machines:")]


def declaration(world: World, **spec: Any) -> dict[str, Any]:
    """The rig's machine as a BareMetalNode, its BMC reached by IPMI."""
    ipmi = {"driver": "ipmi", "settings": {"host": "127.0.0.1", "port": world.bmc.port}}
    body: dict[str, Any] = {
        "pool": world.pool, "capacity": {"cpu": "8", "memory": "16Gi"},
        "power": {"on": ipmi, "off": ipmi,
                  "credentialsSecretRef": {"name": "bmc", "namespace": world.namespace}},
        "bootTime": 20, **spec}
    return {"apiVersion": "bamel.io/v1alpha1", "kind": "BareMetalNode",
            "metadata": {"name": world.machine}, "spec": body}


async def kubectl(world: World, *args: str, manifest: dict[str, Any] | None = None,
                  tmp: Path | None = None) -> str:
    """Run kubectl against the test control plane; its stdout."""
    command = ["kubectl", f"--kubeconfig={world.kubeconfig}", *args]
    if manifest is not None:
        assert tmp is not None
        path = tmp / "bmn.yaml"
        path.write_text(json.dumps(manifest))
        command += ["-f", str(path)]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True,
                                   timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def conditions(kube: KubeClient, name: str) -> dict[str, str]:
    status = await machine_status(kube, name)
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


async def events(kube: KubeClient, name: str, reason: str) -> list[str]:
    listing = await kube.request("GET", api_path("v1", "events", namespace="default"))
    return [e["message"] for e in listing["items"]
            if e["involvedObject"]["name"] == name and e["reason"] == reason]


async def test_a_machine_applied_with_kubectl_is_used_then_released_with_its_power_as_is(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    world.config.write_text(pool_only(world))
    async with running(world.settings()) as service, \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        await kubectl(world, "apply", manifest=declaration(world), tmp=tmp_path)
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        ready = await eventually(lambda: _state_is(kube, world.machine, "ready"))
        assert ready, await machine_status(kube, world.machine)
        assert world.bmc.commands() == ["set power 1"]
        chosen = [d.chosen for d in service.reactor.decisions if d.chosen]
        assert chosen[0] == (world.machine,)
        joined = await eventually(lambda: _joined(kube, world.machine))
        assert joined == {"PowerOK": "True", "Joined": "True", "Overridden": "False",
                          "Quarantined": "False"}
        obj = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=world.machine))
        assert obj["metadata"]["finalizers"] == [FINALIZER]
        wide = await kubectl(world, "get", "baremetalnodes", world.machine, "-o", "wide")
        header, row = wide.split("\n")[:2]
        columns = dict(zip(header.split(), row.split(), strict=False))
        assert (columns["SOURCE"], columns["HOLD"], columns["POWEROK"], columns["JOINED"]) \
            == ("declared", "auto", "True", "True")
        assert "PRODUCT" not in columns and "PRODUCT" in header.split()  # blank: no agent

        await kubectl(world, "delete", "baremetalnode", world.machine, "--timeout=30s")
        with pytest.raises(KubeNotFound):
            await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                               name=world.machine))
        assert world.machine not in {m.name for m in service.config.current.machines}
        await asyncio.sleep(1.0)
        assert world.bmc.chassis_on
    assert world.bmc.commands() == ["set power 1"]  # left on: no power call on delete
    released = await events(kube, world.machine, "Released")
    assert released == ["no longer managed: released; its power is left as it is"]


async def test_power_state_off_holds_a_declared_machine_off_under_pressure_and_drains_it_when_on(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    world.config.write_text(pool_only(world))
    async with running(world.settings()) as service, \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        await kubectl(world, "apply", manifest=declaration(world, powerState="off"),
                      tmp=tmp_path)
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))

        async def held() -> bool:
            return any(d.excluded.get(world.machine) == "held off by a person (powerState: off)"
                       for d in service.reactor.decisions if d.pool == world.pool)

        assert await eventually(held), [d.as_dict() for d in service.reactor.decisions][-1]
        overridden = await eventually(lambda: _overridden(kube, world.machine))
        assert overridden == {"type": "Overridden", "status": "True", "reason": "HeldOff",
                              "message": "held off by a person (powerState: off); the "
                                         "autoscaler leaves it alone"}
        await asyncio.sleep(3.0)  # passes that would have powered it on
        assert world.bmc.commands() == []
        decision = [d for d in service.reactor.decisions if d.pool == world.pool][-1]
        assert decision.excluded == {
            world.machine: "held off by a person (powerState: off)"}, decision

        await kubectl(world, "patch", "baremetalnode", world.machine, "--type=merge",
                      "-p", '{"spec": {"powerState": "auto"}}')
        assert await eventually(lambda: _state_is(kube, world.machine, "ready"))

        # Held off while on, with the pods still asking for it: drained and powered off.
        await kubectl(world, "patch", "baremetalnode", world.machine, "--type=merge",
                      "-p", '{"spec": {"powerState": "off"}}')
        assert await eventually(lambda: _state_is(kube, world.machine, "off"), within=60)
        powered_off = await events(kube, world.machine, "PoweredOff")
        await asyncio.sleep(3.0)  # passes that would have powered it on again
        await kubectl(world, "delete", "baremetalnode", world.machine, "--timeout=30s")
    assert world.bmc.commands() == ["set power 1", "set shutdown 1"]
    assert set(powered_off) == {"powered off with ipmi: held off (powerState: off)"}


async def test_a_declaration_with_a_typo_or_a_name_the_configmap_has_is_refused(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    """The configuration keeps the rig's machine; a BareMetalNode declares it too, and a
    second one misspells a driver setting."""
    typo = declaration(world)
    typo["metadata"]["name"] = f"{world.machine}-typo"
    typo["spec"]["power"]["on"]["settings"] = {"hots": "127.0.0.1"}
    await kubectl(world, "apply", manifest=declaration(world), tmp=tmp_path)
    await kubectl(world, "apply", manifest=typo, tmp=tmp_path)
    try:
        async with running(world.settings()) as service:
            twice = await eventually(lambda: events(kube, world.machine, "InvalidMachine"))
            misspelt = await eventually(
                lambda: events(kube, f"{world.machine}-typo", "InvalidMachine"))
            status = await eventually(lambda: _last_error(kube, f"{world.machine}-typo"))
            names = [m.name for m in service.config.current.machines]
    finally:
        for name in (world.machine, f"{world.machine}-typo"):
            await kubectl(world, "delete", "baremetalnode", name, "--timeout=30s")
    assert twice == [f"machine {world.machine!r} is declared twice: by machines[0] of the "
                     f"configuration and by BareMetalNode/{world.machine}; keep one"]
    assert misspelt and (f"BareMetalNode/{world.machine}-typo spec.power.on.settings.hots: "
                         "unknown key (value '127.0.0.1')") in misspelt[0]
    assert status == misspelt[0]
    assert names == [world.machine]  # the configuration's, once


async def _state_is(kube: KubeClient, name: str, state: str) -> bool:
    return (await machine_status(kube, name)).get("state") == state


async def _joined(kube: KubeClient, name: str) -> dict[str, str] | None:
    found = await conditions(kube, name)
    return found if found.get("Joined") == "True" else None


async def _overridden(kube: KubeClient, name: str) -> dict[str, str] | None:
    status = await machine_status(kube, name)
    for condition in status.get("conditions") or []:
        if condition["type"] == "Overridden" and condition["status"] == "True":
            return dict(condition)
    return None


async def _last_error(kube: KubeClient, name: str) -> str | None:
    return (await machine_status(kube, name)).get("lastError")


async def test_on_delete_power_off_drains_and_powers_the_machine_off_first(
        world: World, kube: KubeClient, tmp_path: Path) -> None:
    world.config.write_text(pool_only(world))
    async with running(world.settings()), \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        await kubectl(world, "apply", manifest=declaration(world, onDelete="power-off"),
                      tmp=tmp_path)
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        assert await eventually(lambda: _state_is(kube, world.machine, "ready"))
        await kubectl(world, "delete", "baremetalnode", world.machine, "--timeout=60s")
    assert world.bmc.commands() == ["set power 1", "set shutdown 1"]
    released = await events(kube, world.machine, "Released")
    assert released == ["no longer managed: powered off and released"]


async def test_an_earlier_controllers_unmarked_mirror_is_marked_not_refused(
        world: World, kube: KubeClient) -> None:
    """Before ``spec.source``, the controller made its mirrors unmarked: the API server
    now reads them as ``declared``, and the controller marks them back."""
    config = load_config(world.config)
    mirror = spec_of(config.machines[0])
    del mirror["source"]
    machines = BareMetalNodes(kube)
    await machines.create_machine(world.machine, mirror)
    await machines.patch_status(world.machine, {"state": "off"})
    assert (await machines.get(world.machine))["spec"]["source"] == "declared"
    try:
        async with running(world.settings()) as service:
            marked = await eventually(lambda: _source_is(kube, world.machine, "configuration"))
            assert marked
            assert [m.name for m in service.config.current.machines] == [world.machine]
    finally:
        await machines.delete(world.machine)
    assert await events(kube, world.machine, "InvalidMachine") == []


async def _source_is(kube: KubeClient, name: str, source: str) -> bool:
    obj = await BareMetalNodes(kube).get(name)
    return bool(obj["spec"].get("source") == source)
