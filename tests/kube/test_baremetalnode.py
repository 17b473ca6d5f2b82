"""The BareMetalNode CRD on the real apiserver: validation, status, printer columns."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeInvalid
from controller.kube.records import record_of, status_of
from controller.kube.resources import BareMetalNodes, read_secret
from controller.machines import MachineRecord
from controller.planning import MachineState
from lab.controlplane import ControlPlane

pytestmark = pytest.mark.integration

SPEC = {
    "pool": "general", "capacity": {"cpu": "32", "memory": "128Gi", "network": "10G"},
    "power": {"on": {"driver": "ipmi"}, "off": {"driver": "ssh"},
              "credentialsSecretRef": {"name": "bmc-creds"}},
    "mac": "52:54:00:12:34:56",
}


async def test_invalid_machine_is_rejected_with_422(kube: KubeClient) -> None:
    machines = BareMetalNodes(kube)
    bad = {**SPEC, "mac": "not-a-mac", "power": {"on": {"driver": "teleport"}}}
    with pytest.raises(KubeInvalid) as caught:
        await machines.create_machine(f"bad-{uuid.uuid4().hex[:6]}", bad)
    assert caught.value.status == 422
    assert "mac" in str(caught.value)


async def test_status_and_kubectl_columns(control_plane: ControlPlane, kube: KubeClient) -> None:
    machines = BareMetalNodes(kube)
    name = f"bm-{uuid.uuid4().hex[:6]}"
    await machines.create_machine(name, SPEC)
    try:
        await machines.set_state(name, "ready", powerState="on", kubernetesNode=name,
                                 observedBootSeconds=187)
        status = (await machines.get(name))["status"]
        assert status["state"] == "ready"
        assert status["since"].endswith("Z")
        done = await asyncio.to_thread(
            subprocess.run, ["kubectl", f"--kubeconfig={control_plane.kubeconfig}", "get",
                             "baremetalnodes", name], capture_output=True, text=True, check=True)
        out = done.stdout.split("\n")
        assert out[0].split() == ["NAME", "POOL", "STATE", "POWER", "NODE", "SINCE", "BOOT"]
        assert out[1].split()[:5] == [name, "general", "ready", "on", name]
        assert out[1].split()[-1] == "187"
        with pytest.raises(KubeInvalid):
            await machines.set_state(name, "exploded")  # type: ignore[arg-type]
    finally:
        await machines.delete(name)


async def test_the_learned_boot_time_is_kept_in_status_and_shown_wide(
        control_plane: ControlPlane, kube: KubeClient) -> None:
    machines = BareMetalNodes(kube)
    name = f"bm-{uuid.uuid4().hex[:6]}"
    await machines.create_machine(name, SPEC)
    record = MachineRecord(state=MachineState.READY, since=1_790_000_000.0,
                           kubernetes_node=name, observed_boot_seconds=90.0,
                           average_boot_seconds=112.5)
    try:
        await machines.patch_status(name, status_of(record))
        assert record_of((await machines.get(name))["status"]) == record
        done = await asyncio.to_thread(
            subprocess.run, ["kubectl", f"--kubeconfig={control_plane.kubeconfig}", "get",
                             "baremetalnodes", name, "-o", "wide"],
            capture_output=True, text=True, check=True)
        header, row = done.stdout.split("\n")[:2]
        assert row.split()[header.split().index("AVGBOOT")] == "112.5"
    finally:
        await machines.delete(name)


async def test_read_secret_decodes_data(kube: KubeClient, namespace: str) -> None:
    await kube.request("POST", api_path("v1", "secrets", namespace=namespace), body={
        "metadata": {"name": "bmc-creds"}, "stringData": {"username": "admin",
                                                          "password": "s3cret"}})
    data = await read_secret(kube, namespace, "bmc-creds")
    assert data == {"username": b"admin", "password": b"s3cret"}
