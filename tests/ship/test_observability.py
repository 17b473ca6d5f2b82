"""What an operator looks at, from the real processes: metrics, the dashboard, and the RBAC.

The controller runs as ``bamel controller`` with the shipped ServiceAccount's own
token (so any right missing from daemonset/controller/rbac.yaml shows up as a
failure here), against the session control plane, with one pool whose one machine
uses the ``command`` power driver: ``sleep 0.5`` stands in for a PDU script (the
test-only ``fake`` driver is refused by a production controller). The pool's
``minNodes: 1`` makes it power the machine on; a hollow node plays its kubelet,
registering with the startup taint.
The real agent streams this host's pressure as that node. Prometheus scrapes both,
and every query of the dashboard must run and return data.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lab.controlplane import ControlPlane
from lab.hollow import HollowNode
from lab.peers.process import LOOPBACK, free_port
from tests.ship.observed import Prometheus, bamel, get, until
from tests.ship.shipped import (
    NAMESPACE,
    Kubectl,
    Manifest,
    PanelQuery,
    load_dashboard,
    queries,
)

pytestmark = pytest.mark.integration

MACHINE = "ship-1"
POOL = "ship"
CONFIGMAP = "bamel-ship-test"
SECRET = "bmc-ship-1"
TOKEN = uuid.uuid4().hex
CONFIG = f"""apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools:
  - name: {POOL}
    labels: {{bamel.io/pool: {POOL}}}
    limits: {{minNodes: 1, maxNodes: 1}}
    scaleUp: {{stabilizationWindow: 0s, cooldown: 0s}}
machines:
  - name: {MACHINE}
    pool: {POOL}
    capacity: {{cpu: "4", memory: 8Gi}}
    power:
      on: {{driver: command, settings: {{argv: [sleep, "0.5"]}}}}
      off: {{driver: command, settings: {{argv: ["true"]}}}}
      credentials: {{secret: {SECRET}, namespace: {NAMESPACE}}}
    bootTime: 30s
    idleWatts: 50
    busyWatts: 200
"""


def service_account_kubeconfig(plane: ControlPlane, kubectl: Kubectl, path: Path) -> Path:
    """A kubeconfig that authenticates as the controller's ServiceAccount (TokenRequest)."""
    token = kubectl.run("create", "token", "bamel-controller", "-n", NAMESPACE,
                        "--duration=10m").stdout.strip()
    assert plane.workdir is not None
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "plane", "cluster": {
            "server": plane.server,
            "certificate-authority": str(plane.workdir / "certs" / "apiserver.crt")}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "plane", "user": "sa"}}],
    }))
    return path


@pytest.fixture
async def world(control_plane: ControlPlane, kubectl: Kubectl, installed: list[Manifest],
                tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Config and credentials in the namespace, the machine's node, the agent's token."""
    kubectl.run("create", "configmap", CONFIGMAP, "-n", NAMESPACE, "--from-literal",
                f"config.yaml={CONFIG}")
    kubectl.run("create", "secret", "generic", SECRET, "-n", NAMESPACE,
                "--from-literal=username=admin", "--from-literal=password=unused")
    tokens = tmp_path / "agent-tokens"
    tokens.mkdir()
    (tokens / MACHINE).write_text(TOKEN)
    node = HollowNode(kubeconfig=control_plane.kubeconfig, name=MACHINE,
                      taints=[{"key": "bamel.io/unconfirmed", "effect": "NoSchedule"}])
    await node.start()
    try:
        yield {"tokens": tokens, "node": node,
               "kubeconfig": service_account_kubeconfig(control_plane, kubectl,
                                                        tmp_path / "sa.kubeconfig")}
    finally:
        await node.close(delete=True)
        for args in (["configmap", CONFIGMAP, "-n", NAMESPACE],
                     ["secret", SECRET, "-n", NAMESPACE], ["baremetalnode", MACHINE]):
            kubectl.run("delete", "--ignore-not-found", *args)


def promtool_check(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "check", "metrics"], input=exposition, check=False,
                          capture_output=True, text=True, timeout=30)


def machine_status(kubectl: Kubectl) -> str:
    """The BareMetalNode's whole status, for a failure's message."""
    return kubectl.run("get", "baremetalnode", MACHINE, "-o", "jsonpath={.status}",
                       check=False).stdout


def machine_state(kubectl: Kubectl) -> str:
    done = kubectl.run("get", "baremetalnode", MACHINE, "-o", "jsonpath={.status.state}",
                       check=False)
    return done.stdout.strip()


async def test_metrics_and_every_dashboard_query_from_the_real_processes(
        world: dict[str, Any], kubectl: Kubectl, tmp_path: Path) -> None:
    controller_port, agent_port = free_port(), free_port()
    prometheus = Prometheus(tmp_path, {"bamel-controller": (controller_port, {}),
                                       "bamel-agent": (agent_port, {"node": MACHINE})})
    controller_args = [
        "controller", f"--configmap={NAMESPACE}/{CONFIGMAP}", f"--kubeconfig={world['kubeconfig']}",
        f"--agent-tokens={world['tokens']}", f"--listen={LOOPBACK}:{controller_port}",
        f"--namespace={NAMESPACE}", "--identity=ship-test", "--log-format=json"]
    agent_args = [
        "agent", f"--controller=ws://{LOOPBACK}:{controller_port}/v1/stream",
        f"--token-file={world['tokens'] / MACHINE}", f"--metrics-host={LOOPBACK}",
        f"--metrics-port={agent_port}", "--interval=0.5",
        *([] if os.geteuid() == 0 else ["--no-bpf"])]
    controller_url = f"http://{LOOPBACK}:{controller_port}"
    agent_url = f"http://{LOOPBACK}:{agent_port}"
    try:
        assert await until(prometheus.ready, within=20)
        with bamel(controller_args, workdir=tmp_path, name="controller") as controller, \
                bamel(agent_args, workdir=tmp_path, name="agent",
                      env={"NODE_NAME": MACHINE}) as agent:

            async def leading() -> bool:
                assert controller.running(), controller.log_tail()
                return (await get(f"{controller_url}/readyz"))[0] == 200

            assert await until(leading, within=40), controller.log_tail()
            # One stream without a token: the "rejected frames" panel needs a reason.
            status, _ = await get(f"{controller_url}/v1/stream", Authorization="Bearer wrong")
            assert status == 401

            async def ready() -> bool:
                return await asyncio.to_thread(machine_state, kubectl) == "ready"

            assert await until(ready, within=40), \
                f"{machine_status(kubectl)}\n{controller.log_tail()}"
            async def agent_healthy() -> bool:
                return (await get(f"{agent_url}/healthz"))[0] == 200

            # Healthy after its first sample, once BCC has compiled the probes: seconds
            # on an idle host, far longer on a loaded one (the DaemonSet allows 150 s).
            assert await until(agent_healthy, within=60), agent.log_tail()

            unanswered: list[str] = []

            async def answered() -> bool:
                unanswered[:] = await _unanswered(prometheus)
                return not unanswered

            assert await until(answered, within=40, every=1.0), unanswered
            assert await _unanswered(prometheus, ["bamel_controller_no_such_metric"]) == [
                "bamel_controller_no_such_metric: no data"]  # the check can fail
            assert await _value(prometheus, "sum(bamel_controller_ingest_frames_total)") > 0
            if os.geteuid() == 0:  # the probes loaded; without root the agent ran --no-bpf
                assert await _value(prometheus, 'count(bamel_agent_pressure_source'
                                                '{source="ebpf", node="ship-1"} == 1)') == 3

            for url in (controller_url, agent_url):
                status, text = await get(f"{url}/metrics")
                assert status == 200
                checked = promtool_check(text)
                assert checked.returncode == 0, f"{url}: {checked.stdout}{checked.stderr}"

        log = (tmp_path / "controller.log").read_text()
        assert "forbidden" not in log.lower(), "a right is missing from the shipped RBAC"
        node = kubectl.run("get", "node", MACHINE, "-o", "json").stdout
        assert "bamel.io/unconfirmed" not in node  # the controller confirmed it
        events = kubectl.run("get", "events", "-n", "default", "--field-selector",
                             f"involvedObject.name={MACHINE}", "-o", "json").stdout
        assert json.loads(events)["items"], "no Event about the machine in default"
    finally:
        prometheus.stop()


async def _unanswered(prometheus: Prometheus, exprs: list[str] | None = None) -> list[str]:
    """The dashboard's queries (or exprs) that fail or return nothing yet, as "panel: why"."""
    range_s = max(int(time.time() - prometheus.started) + 1, 2)
    asked = ([PanelQuery(expr, expr, instant=True) for expr in exprs] if exprs else
             queries(load_dashboard(), range_s=range_s, rate_interval="15s"))
    missing = []
    for query in asked:
        answer = await prometheus.query(query.expr, instant=query.instant)
        if answer.get("status") != "success":
            missing.append(f"{query.panel}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            missing.append(f"{query.panel}: no data")
    return missing


async def _value(prometheus: Prometheus, expr: str) -> float:
    answer = await prometheus.query(expr, instant=True)
    (sample,) = answer["data"]["result"]
    return float(sample["value"][1])
