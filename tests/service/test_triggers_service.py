"""The whole controller with a PromQL trigger: the real Prometheus scrapes a target this
test serves; a value above the threshold for the duration powers a machine on through
its real BMC (ipmi_sim), with Events on the NodePool; a NaN afterwards is an error
Event and no action."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.service import ServiceSettings
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.controller.scrape import Target, seen, served
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    PoweredNode,
    config_yaml,
    create_secret,
    eventually,
    running,
)
from tests.ship.observed import Prometheus, until

pytestmark = pytest.mark.integration


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username=USERNAME, password=PASSWORD) as sim:
        yield sim


@pytest.fixture
def target() -> Iterator[Target]:
    with served() as scraped:
        yield scraped


@pytest.fixture
async def prometheus(target: Target, tmp_path: Path) -> Any:
    server = Prometheus(tmp_path, {"queue": (target.port, {})})
    try:
        assert await until(server.ready, within=30)
        yield server
    finally:
        server.stop()


def with_trigger(text: str, pool: str, url: str) -> str:
    """The rig's one-pool configuration with a trigger and the Prometheus to ask."""
    trigger = ("    triggers:\n      - {name: queue, metricQuery: 'sum(jobs_waiting)', "
               "threshold: 10, duration: 2s, scaleDirection: up}\n")
    text = text.replace(f"  - name: {pool}\n", f"  - name: {pool}\n{trigger}", 1)
    return text.replace("pools:\n", f"prometheus: {{url: '{url}', interval: 1s, "
                                     "timeout: 0.5s}\npools:\n", 1)


async def pool_events(kube: KubeClient, pool: str) -> list[tuple[str, str, str]]:
    """The pool's NodePool Events, by reason (the API lists them by their random names)."""
    events = await kube.request("GET", api_path("v1", "events", namespace="default"))
    return sorted((e["reason"], e["type"], e["message"]) for e in events["items"]
                  if e["involvedObject"].get("kind") == "NodePool"
                  and e["involvedObject"]["name"] == pool)


async def state(kube: KubeClient, machine: str) -> str:
    try:
        bmn = await kube.request("GET", api_path("bamel.io/v1alpha1", "baremetalnodes",
                                                 name=machine))
    except KubeNotFound:  # not created yet
        return ""
    return str((bmn.get("status") or {}).get("state", ""))


@dataclass
class Peers:
    """The real peers of one test: the BMC, the scrape target and its Prometheus."""

    bmc: IpmiSim
    target: Target
    prometheus: Prometheus


@pytest.fixture
def peers(bmc: IpmiSim, target: Target, prometheus: Prometheus) -> Peers:
    return Peers(bmc, target, prometheus)


async def test_a_firing_trigger_powers_a_machine_on_and_nan_only_says_so(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient,
        peers: Peers) -> None:
    bmc, target, prometheus = peers.bmc, peers.target, peers.prometheus
    suffix = uuid.uuid4().hex[:6]
    pool, machine = f"pool-{suffix}", f"machine-{suffix}"
    await create_secret(kube, namespace, "bmc")
    config = tmp_path / "config.yaml"
    config.write_text(with_trigger(config_yaml(pool=pool, machine=machine, bmc=bmc,
                                               secret="bmc", namespace=namespace),
                                   pool, prometheus.url))
    settings = ServiceSettings(config_file=config, kubeconfig=str(control_plane.kubeconfig),
                               listen_host="127.0.0.1", listen_port=0, namespace=namespace,
                               identity="test-controller", join_poll=0.2)
    target.value = "3"
    assert await until(lambda: seen(prometheus, "3"), within=30)
    async with running(settings) as service, PoweredNode(settings.kubeconfig or "", bmc,
                                                         machine):
        assert await eventually(lambda: _is(kube, machine, "off"))
        await asyncio.sleep(3)  # several evaluations below the threshold
        assert bmc.commands() == []
        target.value = "15"
        assert await eventually(lambda: _is(kube, machine, "ready"), within=90), \
            await state(kube, machine)
        assert bmc.commands() == ["set power 1"]
        caused = [d for d in service.reactor.decisions if d.chosen]
        assert caused[0].reason.startswith("trigger queue (up): 15 above 10 for ")
        assert caused[0].triggers["queue"]["caused"] is True
        assert [e[:2] for e in await pool_events(kube, pool)] == [("TriggerFiring", "Normal")]
        target.value = "NaN"
        expected = [("TriggerError", "Warning"), ("TriggerFiring", "Normal")]
        assert await eventually(lambda: _events_are(kube, pool, expected), within=30), \
            await pool_events(kube, pool)
        await asyncio.sleep(3)  # several evaluations in error: still one Event, no action
        events = await pool_events(kube, pool)
        assert [e[:2] for e in events] == expected
        assert events[0][2] == "trigger queue (up): error: the value is NaN"
        assert bmc.commands() == ["set power 1"]
        metrics = service.metrics.render().decode()
        assert (f'bamel_controller_trigger_state{{pool="{pool}",state="error",'
                f'trigger="queue"}} 1.0') in metrics


async def _is(kube: KubeClient, machine: str, wanted: str) -> bool:
    return await state(kube, machine) == wanted


async def _events_are(kube: KubeClient, pool: str, expected: list[tuple[str, str]]) -> bool:
    return [e[:2] for e in await pool_events(kube, pool)] == expected
