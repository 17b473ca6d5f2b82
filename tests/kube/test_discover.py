"""``bamel discover`` on a real cluster: a draft that ``bamel config check`` refuses until
a person fills in the power drivers, and accepts once they have."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.config import parse_yaml
from controller.kube.client import KubeClient
from controller.kube.resources import BareMetalNodes
from lab.controlplane import ControlPlane

pytestmark = pytest.mark.integration

MAC = "52:54:00:aa:bb:0c"


async def bamel(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bamel", *args],
                                   capture_output=True, text=True, timeout=60, check=False)


async def test_discover_drafts_an_inventory_that_config_check_accepts_once_filled(
        control_plane: ControlPlane, kube: KubeClient, hollow: Callable[..., Any],
        tmp_path: Path) -> None:
    mark = f"discover-{uuid.uuid4().hex[:6]}"
    gpu = await hollow("gpu", schedulable=False,
                       capacity={"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "4",
                                 "example.com/fpga": "1"},
                       labels={"test": mark, "bamel.io/pool": "gpu", "rack": "r1"})
    small = await hollow("small", schedulable=False, capacity={"cpu": "8", "memory": "32Gi"},
                         labels={"test": mark, "rack": "r2", "disk": "ssd"})
    master = await hollow("master", schedulable=False,
                          labels={"test": mark, "node-role.kubernetes.io/master": ""})
    machines = BareMetalNodes(kube)
    await machines.create_machine(gpu.name, {
        "pool": "gpu", "capacity": {"cpu": "32", "memory": "256Gi"},
        "power": {"on": {"driver": "wol"}, "off": {"driver": "ssh"}}})
    try:
        await machines.patch_status(gpu.name, {
            "state": "off", "macs": [MAC], "hostAddresses": ["192.0.2.40"],
            "hardware": {"vendor": "Dell Inc.", "product": "PowerEdge R750",
                         "serial": "9ZK3Q13"}})
        done = await bamel("discover", "--kubeconfig", str(control_plane.kubeconfig),
                           "-l", f"test={mark}")
    finally:
        await machines.delete(gpu.name)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"# Left out (control plane): {master.name}" in text
    assert f"# {gpu.name}: InternalIP 127.0.0.1, agent 192.0.2.40" in text
    assert f"# {gpu.name}: Dell Inc. PowerEdge R750, serial 9ZK3Q13" in text
    document = parse_yaml(text)
    assert isinstance(document, dict)
    assert document["pools"] == [
        {"name": "general", "labels": {"bamel.io/pool": "general", "disk": "ssd",
                                       "rack": "r2", "test": mark}},
        {"name": "gpu", "labels": {"bamel.io/pool": "gpu", "rack": "r1", "test": mark}}]
    drafted = {m["name"]: m for m in document["machines"]}
    assert set(drafted) == {gpu.name, small.name}
    assert drafted[gpu.name]["pool"] == "gpu" and drafted[small.name]["pool"] == "general"
    assert drafted[gpu.name]["capacity"] == {"cpu": "32", "memory": "256Gi", "gpu": 4,
                                             "extended": {"example.com/fpga": "1"}}
    assert drafted[gpu.name]["mac"] == MAC and "mac" not in drafted[small.name]
    assert drafted[small.name]["power"] == {"on": {"driver": "FILL-IN", "settings": {}},
                                            "off": {"driver": "FILL-IN", "settings": {}}}

    path = tmp_path / "config.yaml"
    path.write_text(text)
    refused = await bamel("config", "check", str(path))
    assert refused.returncode == 1
    assert (f"{path}: machines[0].power.on.driver: 'FILL-IN' left by bamel discover: name "
            "how to reach this machine (command, ipmi, redfish, ssh, wol) and its settings"
            ) in refused.stderr.splitlines()

    filled = text.replace("driver: FILL-IN\n      settings: {}",
                          "driver: ipmi\n      settings: {host: 10.0.0.11}")
    path.write_text(filled)
    accepted = await bamel("config", "check", "--quiet", str(path))
    assert accepted.returncode == 0, accepted.stderr
