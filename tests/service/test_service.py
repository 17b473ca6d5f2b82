"""The whole controller: pending pods → BMC power-on → join → pods run → idle → power-off."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.kube.leader import LeaseTimings
from controller.service import LEASE_NAME, ControllerService, ServiceSettings
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    AgentStream,
    PoweredNode,
    config_yaml,
    create_secret,
    eventually,
    replica_set,
    running,
)

pytestmark = pytest.mark.integration

TOKEN = "agent-token-for-rig"


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username=USERNAME, password=PASSWORD) as sim:
        yield sim


class World:
    """Names and files of one test: a pool, a machine, a config, the agent tokens."""

    def __init__(self, tmp_path: Path, control_plane: ControlPlane, namespace: str,
                 bmc: IpmiSim) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.pool, self.machine = f"pool-{suffix}", f"machine-{suffix}"
        self.namespace, self.bmc = namespace, bmc
        self.config = tmp_path / "config.yaml"
        self.config.write_text(config_yaml(pool=self.pool, machine=self.machine, bmc=bmc,
                                           secret="bmc", namespace=namespace))
        self.tokens = tmp_path / "tokens.yaml"
        self.tokens.write_text(f"{self.machine}: {TOKEN}\n")
        self.kubeconfig = str(control_plane.kubeconfig)

    def settings(self, **changes: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "config_file": self.config, "kubeconfig": self.kubeconfig,
            "listen_host": "127.0.0.1", "listen_port": 0, "agent_tokens": self.tokens,
            "namespace": self.namespace, "identity": "test-controller", "join_poll": 0.2}
        return ServiceSettings(**{**values, **changes})


@pytest.fixture
async def world(tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient,
                bmc: IpmiSim) -> World:
    await create_secret(kube, namespace, "bmc")
    return World(tmp_path, control_plane, namespace, bmc)


async def machine_status(kube: KubeClient, name: str) -> dict[str, Any]:
    try:
        bmn = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=name))
    except KubeNotFound:
        return {}
    return dict(bmn.get("status") or {})


async def event_reasons(kube: KubeClient, name: str) -> list[str]:
    events = await kube.request("GET", api_path("v1", "events", namespace="default"))
    return [e["reason"] for e in events["items"] if e["involvedObject"]["name"] == name]


async def running_pods(kube: KubeClient, namespace: str) -> list[str]:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return [p["spec"].get("nodeName", "") for p in pods["items"]
            if p["status"].get("phase") == "Running"]


async def test_pending_pods_power_on_join_run_then_idle_powers_off(
        world: World, kube: KubeClient, control_plane: ControlPlane) -> None:
    async with running(world.settings()) as service, \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        assert await eventually(lambda: _state_is(kube, world.machine, "off"))
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        ready = await eventually(lambda: _state_is(kube, world.machine, "ready"))
        assert ready, await machine_status(kube, world.machine)
        assert world.bmc.commands() == ["set power 1"]
        assert await eventually(lambda: running_pods(kube, world.namespace)) == [world.machine]
        node = await kube.request("GET", api_path("v1", "nodes", name=world.machine))
        assert node["metadata"]["labels"]["bamel.io/pool"] == world.pool
        assert not any(t["key"] == "bamel.io/unconfirmed" for t in node["spec"].get("taints")
                       or [])
        reasons = await event_reasons(kube, world.machine)
        assert {"PoweredOn", "Joined"} <= set(reasons)
        pool = await eventually(lambda: _pool_status(kube, world.pool, ready=1))
        assert pool, await kube.request("GET", api_path("bamel.io/v1alpha1", "nodepools",
                                                        name=world.pool))
        assert pool["desired"] == 1 and pool["availableResources"]["cpu"] == "8", pool
        conditions = {c["type"]: c["status"] for c in pool["conditions"]}
        assert conditions == {"ScalingUp": "False", "ScalingDown": "False",
                              "AtMaxNodes": "False"}
        explained = [d for d in service.reactor.decisions if d.chosen]
        assert explained[0].chosen == (world.machine,)

        await kube.request("DELETE", api_path("apps/v1", "replicasets", namespace=world.namespace,
                                              name="work"),
                           body={"propagationPolicy": "Foreground"})
        url = f"ws://127.0.0.1:{service.port}/v1/stream"
        async with AgentStream(url, world.machine, TOKEN):
            off = await eventually(lambda: _state_is(kube, world.machine, "off"), within=90)
        assert off, ([d.reason for d in service.reactor.decisions][-6:],
                     await machine_status(kube, world.machine))
        assert world.bmc.commands() == ["set power 1", "set shutdown 1"]  # a soft power-off
        assert "PoweredOff" in await event_reasons(kube, world.machine)
        assert service.metrics.frames._value.get() > 0


async def test_a_ready_machine_switched_off_by_hand_is_recorded_as_lost(
        world: World, kube: KubeClient) -> None:
    async with running(world.settings(node_lost_after=1.0)), \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        assert await eventually(lambda: _state_is(kube, world.machine, "ready"))
        (world.bmc.state_dir / "power").write_text("0\n")  # pulled at the chassis
        lost = await eventually(lambda: _state_is(kube, world.machine, "error"))
        status = await machine_status(kube, world.machine)
        assert lost, status
    assert status["lastError"] == f"lost: node {world.machine} was deleted for over 1s"
    assert status["failures"] == 1 and status["backoffUntil"]
    assert "NodeLost" in await event_reasons(kube, world.machine)
    assert world.bmc.commands() == ["set power 1"]  # nothing more was sent to the BMC


async def test_dry_run_decides_and_says_would_but_calls_nothing(
        world: World, kube: KubeClient) -> None:
    async with running(world.settings(dry_run=True)):
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        reasons = await eventually(lambda: event_reasons(kube, world.machine))
        assert "WouldPowerOn" in reasons
    assert world.bmc.commands() == []
    assert (await machine_status(kube, world.machine))["state"] == "off"


async def test_dead_bmc_leaves_the_machine_in_error_with_the_reason(
        world: World, kube: KubeClient) -> None:
    world.bmc.kill_bmc()
    async with running(world.settings()):
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        assert await eventually(lambda: _state_is(kube, world.machine, "error"), within=90)
    status = await machine_status(kube, world.machine)
    assert "power on" in status["lastError"]
    assert status["failures"] == 1 and status["backoffUntil"]
    call = status["lastPowerAction"]
    assert (call["action"], call["driver"], call["result"]) == ("on", "ipmi", "unreachable")
    assert "PowerFailed" in await event_reasons(kube, world.machine)


async def test_once_prints_the_decisions_and_exits(world: World, kube: KubeClient) -> None:
    await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                       body=replica_set("work", world.pool))
    await eventually(lambda: _pending(kube, world.namespace))
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bamel", "controller", "--once", "--dry-run",
         "--config", str(world.config), "--kubeconfig", world.kubeconfig,
         "--listen", "127.0.0.1:0", "--namespace", world.namespace, "--no-leader-elect"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    chosen = [d for d in decisions if d["chosen"]]
    assert chosen and chosen[0]["chosen"] == [world.machine]
    assert chosen[0]["rounds"][0]["candidates"][0]["contributions"]
    assert "DRY RUN" in result.stderr and "effective configuration" in result.stderr
    assert world.bmc.commands() == []


async def _pool_status(kube: KubeClient, pool: str, *, ready: int) -> dict[str, Any]:
    nodepool = await kube.request("GET", api_path("bamel.io/v1alpha1", "nodepools", name=pool))
    status = dict(nodepool.get("status") or {})
    return status if status.get("ready") == ready else {}


async def _state_is(kube: KubeClient, name: str, state: str) -> bool:
    return (await machine_status(kube, name)).get("state") == state


async def _pending(kube: KubeClient, namespace: str) -> bool:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return any(c.get("reason") == "Unschedulable" for p in pods["items"]
               for c in p["status"].get("conditions") or [])


async def test_a_configmap_edit_applies_live_and_a_bad_one_is_refused_with_an_event(
        world: World, kube: KubeClient) -> None:
    path = api_path("v1", "configmaps", namespace=world.namespace)
    text = world.config.read_text()
    await kube.request("POST", path, body={"metadata": {"name": "bamel-config"},
                                           "data": {"config.yaml": text}})
    settings = world.settings(config_file=None,
                              configmap=f"{world.namespace}/bamel-config")
    async with running(settings) as service:
        assert await eventually(lambda: _state_is(kube, world.machine, "off"))
        edited = text.replace("maxPerMinute: 10}", "maxPerMinute: 7}", 1)
        await _put_config(kube, world.namespace, edited)
        assert await eventually(lambda: _poll(
            lambda: service.reactor.config.pools[0].scale_up.max_per_minute == 7))
        await _put_config(kube, world.namespace, edited.replace("maxPerMinute: 7}",
                                                                "maxPerMinute: -3}"))
        assert await eventually(lambda: _poll(
            lambda: service.metrics.config_reloads.labels("invalid")._value.get() == 1))
        assert service.reactor.config.pools[0].scale_up.max_per_minute == 7
        refused = await eventually(lambda: _invalid_config_events(kube, world.namespace))
    assert refused and "maxPerMinute" in refused[0]["message"]
    assert refused[0]["involvedObject"]["name"] == "bamel-config"


async def test_of_two_replicas_one_leads_and_the_other_takes_over_when_it_stops(
        world: World) -> None:
    lease = LeaseTimings(lease_seconds=2.0, renew_seconds=1.5, retry_seconds=0.2)
    first = world.settings(identity="replica-a", lease=lease)
    second = world.settings(identity="replica-b", lease=lease)
    async with running(first) as a:
        assert await eventually(lambda: _ready(a.port))
        async with running(second) as b:
            await asyncio.sleep(1.0)
            assert not await _ready(b.port)
            a.stop()
            assert await eventually(lambda: _ready(b.port), within=20)
            assert b.metrics.leader._value.get() == 1


async def _invalid_config_events(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    events = await kube.request("GET", api_path("v1", "events", namespace=namespace))
    return [e for e in events["items"] if e["reason"] == "InvalidConfig"]


async def _put_config(kube: KubeClient, namespace: str, text: str) -> None:
    await kube.request("PATCH", api_path("v1", "configmaps", namespace=namespace,
                                         name="bamel-config"),
                       body={"data": {"config.yaml": text}},
                       content_type="application/merge-patch+json")


async def _poll(check: Any) -> bool:
    return bool(check())


async def _ready(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def test_a_root_task_that_dies_stops_the_controller_with_exit_1(
        world: World, kube: KubeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.supervision")
    service = ControllerService(world.settings())
    run = asyncio.create_task(service.run())
    assert await eventually(lambda: _ready(service.port), within=30)
    service.tracker.snapshots.put_nowait(None)  # a snapshot the pending pump cannot read
    assert await asyncio.wait_for(run, 30) == 1
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR
                and r.name == "controller.supervision"]
    assert failed.getMessage().startswith("task 'pending-pump' raised AttributeError")
    assert failed.exc_info is not None and "Traceback" in caplog.text
    stopped = [str(r.args[0]) for r in caplog.records  # type: ignore[index]
               if r.msg == "task %r stopped"]
    order = ["reactor", f"config-file {world.config}", "pending-pods", "scale-up-notices",
             "informer /api/v1/pods", "informer /api/v1/nodes", "nodepool-status",
             f"leader-election {LEASE_NAME}"]
    assert [name for name in stopped if name in order] == order
    assert not [t for t in asyncio.all_tasks() if t.get_name() in order]
    lease = await kube.request("GET", api_path("coordination.k8s.io/v1", "leases",
                                               namespace=world.namespace, name=LEASE_NAME))
    assert not lease["spec"].get("holderIdentity")  # released on the way out
