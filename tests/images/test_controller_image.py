"""The controller image runs as the Deployment runs it and drives a real BMC.

The container gets the Deployment's security context (user 65532, read-only root,
every capability dropped, no privilege escalation, RuntimeDefault seccomp), its
volumes and its own arguments (the ConfigMap, the agents' tokens, the Lease's
namespace, JSON logs), against the session control plane and an ``ipmi_sim`` BMC.
Three departures, all for this test bed: the host's network (the API server and
the BMC listen on this host's loopback), a kubeconfig file where a cluster would
mount the ServiceAccount, and a free loopback port to listen on instead of
0.0.0.0:8080.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.kube.client import KubeClient, api_path
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.images.engine import Built, run
from tests.images.pods import PodRun
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    PoweredNode,
    config_yaml,
    create_secret,
    eventually,
    replica_set,
)
from tests.ship.shipped import find, kustomize

pytestmark = [pytest.mark.integration, pytest.mark.images, pytest.mark.root]

KUBECONFIG = "/var/run/bamel/kubeconfig"


@dataclass(frozen=True)
class Scene:
    """One pool with one IPMI machine, its config in a ConfigMap, a pod that needs it."""

    machine: str
    namespace: str
    pod: PodRun
    kubeconfig: Path


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username=USERNAME, password=PASSWORD) as sim:
        yield sim


@pytest.fixture
async def scene(tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient,
                bmc: IpmiSim) -> Scene:
    suffix = uuid.uuid4().hex[:6]
    pool, machine = f"pool-{suffix}", f"machine-{suffix}"
    await create_secret(kube, namespace, "bmc")
    config = config_yaml(pool=pool, machine=machine, bmc=bmc, secret="bmc", namespace=namespace)
    await kube.request("POST", api_path("v1", "configmaps", namespace=namespace),
                       body={"metadata": {"name": "bamel-config"},
                             "data": {"config.yaml": config}})
    await kube.request("POST", api_path("apps/v1", "replicasets", namespace=namespace),
                       body=replica_set("work", pool))
    assert await eventually(lambda: _unschedulable(kube, namespace))
    pod = PodRun(find(kustomize(), "Deployment", "bamel-controller"),
                 fields={"metadata.name": f"bamel-controller-{suffix}",
                         "metadata.namespace": namespace},
                 secrets={"bamel-agent-tokens": {machine: uuid.uuid4().hex}},
                 workdir=tmp_path)
    return Scene(machine, namespace, pod, standalone_kubeconfig(control_plane, tmp_path))


def standalone_kubeconfig(plane: ControlPlane, directory: Path) -> Path:
    """The admin kubeconfig with its CA inline, readable by the container's user."""
    config = json.loads(plane.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = Path(cluster.pop("certificate-authority")).read_bytes()
    cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    path = directory / "kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o644)
    return path


def once(built: Built, scene: Scene, *extra: str) -> subprocess.CompletedProcess[str]:
    """``bamel controller --once`` in the image, with the Deployment's own arguments."""
    flags = scene.pod.flags()
    assert flags[flags.index("--network") + 1] == "none"  # no hostNetwork in the manifest
    flags[flags.index("--network") + 1] = "host"
    flags += ["--volume", f"{scene.kubeconfig}:{KUBECONFIG}:ro"]
    args = [arg for arg in scene.pod.args() if not arg.startswith("--listen=")]
    args += ["--listen=127.0.0.1:0", f"--kubeconfig={KUBECONFIG}", "--once", *extra]
    return run(built.refs["controller"], flags=flags, args=args, timeout=240)


def decisions(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def chosen(done: subprocess.CompletedProcess[str]) -> list[list[str]]:
    return [d["chosen"] for d in decisions(done) if d["chosen"]]


async def test_a_dry_run_pass_prints_its_decision_and_calls_nothing(
        built: Built, scene: Scene, bmc: IpmiSim) -> None:
    flags = scene.pod.flags()
    assert {"--read-only", "--cap-drop=ALL"} <= set(flags)
    assert flags[flags.index("--user") + 1] == "65532:65532"
    done = await asyncio.to_thread(once, built, scene, "--dry-run")
    assert chosen(done) == [[scene.machine]]
    assert "DRY RUN" in done.stderr
    assert bmc.commands() == []


async def test_a_real_pass_powers_the_machine_on_through_its_bmc(
        built: Built, scene: Scene, bmc: IpmiSim, control_plane: ControlPlane,
        kube: KubeClient) -> None:
    async with PoweredNode(control_plane.kubeconfig, bmc, scene.machine):
        done = await asyncio.to_thread(once, built, scene)
    assert chosen(done) == [[scene.machine]]
    assert bmc.commands() == ["set power 1"]
    machine = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=scene.machine))
    assert machine["status"]["state"] == "ready", machine["status"]


async def _unschedulable(kube: KubeClient, namespace: str) -> bool:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return any(c.get("reason") == "Unschedulable" for p in pods["items"]
               for c in p["status"].get("conditions") or [])
