"""API server faults: the controller rides out an API server stopped in the middle of a
drain and a join, and a leader that cannot renew its Lease stops acting before the
Lease expires.

The control plane is this module's own: stopping the session's API server would fail
every other test running on it. Its API server writes an audit log, the server's own
account of every eviction it carried out (``lab.controlplane``); ipmi_sim's chassis hook
logs every power command with the time it arrived (``lab.peers.ipmi``). Neither comes
from the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from controller.config import load_config
from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeUnavailable
from controller.kube.leader import LeaseTimings
from controller.kube.nodes import UNCONFIRMED_TAINT, edit_taints, patch_node
from controller.kube.records import BareMetalNodeStore
from controller.kube.resources import BareMetalNodes
from controller.machines import FileMachineStore, MachineRecord
from controller.planning import MachineState
from controller.power import DRIVERS
from controller.service import LEASE_NAME, ControllerService, ServiceSettings
from lab.controlplane import BINARIES, ControlPlane
from lab.peers import IpmiSim
from tests.conftest import apply_crds
from tests.kube.conftest import kube, namespace
from tests.service.rig import (
    PASSWORD,
    USERNAME,
    AgentStream,
    PoweredNode,
    create_secret,
    eventually,
    replica_set,
    running,
)
from tests.service.test_scheduling_truth import state

__all__ = ["kube", "namespace"]  # fixtures, on this module's control plane

pytestmark = pytest.mark.integration

OUTAGE = 3.0
"""Seconds the API server stays dead before it is started again (it then takes about
five more to answer /readyz)."""
SURVIVING = LeaseTimings(lease_seconds=90.0, renew_seconds=60.0, retry_seconds=1.0)
"""A renew deadline longer than the whole outage, so the leader rides it out: the
restarted API server answers /readyz about 5 s after its start on a quiet machine, and
18 s was seen on a shared one with a load average of 9."""
SHORT = LeaseTimings(lease_seconds=6.0, renew_seconds=4.0, retry_seconds=0.5)
REPLICAS = 4


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    """This module's own control plane, in place of the session's: ``kube`` and
    ``namespace`` (``tests.kube.conftest``) then talk to it."""
    if not (BINARIES / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BINARIES}: run `make system`")
    with ControlPlane(audit=True) as plane:
        apply_crds(plane)
        yield plane


@contextlib.contextmanager
def bmcs(*power_on: bool) -> Iterator[list[IpmiSim]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(IpmiSim(username=USERNAME, password=PASSWORD, power_on=on))
               for on in power_on]


def machine_yaml(name: str, pool: str, bmc: IpmiSim, credentials: str) -> str:
    ipmi = f"{{driver: ipmi, settings: {{host: 127.0.0.1, port: {bmc.port}}}}}"
    return f"""  - name: {name}
    pool: {pool}
    capacity: {{cpu: "8", memory: 16Gi}}
    power: {{on: {ipmi}, off: {ipmi}, credentials: {credentials}}}
    bootTime: 20s
"""


def pool_yaml(name: str, *, window: str = "0s", unneeded: str = "2s") -> str:
    return f"""  - name: {name}
    labels: {{bamel.io/pool: {name}}}
    scaleUp: {{stabilizationWindow: {window}, cooldown: 0s, maxPerMinute: 10}}
    scaleDown: {{unneededTime: {unneeded}, minUptime: 1s, drainTimeout: 90s, maxPerMinute: 10}}
"""


def settings(tmp_path: Path, plane: ControlPlane, namespace: str, config: str,
             tokens: dict[str, str], **changes: Any) -> ServiceSettings:
    path, token_file = tmp_path / "config.yaml", tmp_path / "tokens.yaml"
    path.write_text("apiVersion: bamel.io/v1alpha1\nkind: AutoscalerConfig\n" + config)
    token_file.write_text("".join(f"{node}: {token}\n" for node, token in tokens.items()))
    values: dict[str, Any] = {
        "config_file": path, "kubeconfig": str(plane.kubeconfig), "listen_host": "127.0.0.1",
        "listen_port": 0, "agent_tokens": token_file, "namespace": namespace,
        "identity": "controller-0", "join_poll": 0.2}
    return ServiceSettings(**{**values, **changes})


def evictions(plane: ControlPlane, namespace: str) -> dict[str, Counter[int]]:
    """Pod → how many eviction requests the API server answered with each status code."""
    found: dict[str, Counter[int]] = {}
    for line in plane.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if (ref.get("subresource") == "eviction" and ref.get("namespace") == namespace
                and event.get("stage") == "ResponseComplete"):
            code = int((event.get("responseStatus") or {}).get("code") or 0)
            found.setdefault(ref["name"], Counter())[code] += 1
    return found




async def serving(node: PoweredNode, kube: KubeClient, pool: str, *, cordoned: bool) -> None:
    """As a join would leave it: Ready, in its pool, without the unconfirmed taint."""
    assert await eventually(lambda: _registered(node), within=30)
    assert node.node is not None
    await node.node.wait_schedulable()
    await edit_taints(kube, node.name, lambda taints: [
        t for t in taints if t.get("key") != UNCONFIRMED_TAINT])
    await patch_node(kube, node.name, {"metadata": {"labels": {"bamel.io/pool": pool}},
                                       "spec": {"unschedulable": cordoned or None}})


async def _registered(node: PoweredNode) -> bool:
    return node.node is not None


async def pods_on(kube: KubeClient, namespace: str, node: str) -> list[str]:
    pods = await kube.request("GET", api_path("v1", "pods", namespace=namespace))
    return [p["metadata"]["name"] for p in pods["items"] if p["spec"].get("nodeName") == node
            and p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


async def test_a_drain_and_a_join_ride_out_a_stopped_api_server(
        control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:5]
    down, up = f"down-{suffix}", f"up-{suffix}"
    drained, spare, joining = f"a-{suffix}", f"s-{suffix}", f"b-{suffix}"
    await create_secret(kube, namespace, "bmc")
    credentials = f"{{secret: bmc, namespace: {namespace}}}"
    with bmcs(True, True, False) as (bmc_a, bmc_s, bmc_b):
        config = ("pools:\n" + pool_yaml(down) + pool_yaml(up, unneeded="600s")
                  + "machines:\n" + machine_yaml(drained, down, bmc_a, credentials)
                  + machine_yaml(spare, down, bmc_s, credentials)
                  + machine_yaml(joining, up, bmc_b, credentials))
        tokens = {drained: "token-a", spare: "token-s"}
        service_settings = settings(tmp_path, control_plane, namespace, config, tokens,
                                    lease=SURVIVING)
        async with PoweredNode(control_plane.kubeconfig, bmc_a, drained) as node_a, \
                PoweredNode(control_plane.kubeconfig, bmc_s, spare) as node_s, \
                PoweredNode(control_plane.kubeconfig, bmc_b, joining, boot=6.0):
            # Two machines already serving pool `down`, as earlier joins left them.
            await serving(node_a, kube, down, cordoned=False)
            await serving(node_s, kube, down, cordoned=True)
            store = BareMetalNodeStore(BareMetalNodes(kube))
            assert service_settings.config_file is not None
            await store.ensure(load_config(service_settings.config_file,
                                           drivers=DRIVERS).machines)
            for name in (drained, spare):
                await store.put(name, MachineRecord(
                    state=MachineState.READY, since=time.time() - 60, kubernetes_node=name,
                    power_state="on"))
            await _workload(kube, namespace, down, drained, spare)
            await patch_node(kube, spare, {"spec": {"unschedulable": None}})
            victims = await pods_on(kube, namespace, drained)
            assert len(victims) == REPLICAS

            async with running(service_settings) as service:
                url = f"ws://127.0.0.1:{service.port}/v1/stream"
                async with AgentStream(url, drained, "token-a"), \
                        AgentStream(url, spare, "token-s"):
                    # the drain has carried out its first eviction and waits on the budget
                    assert await eventually(
                        lambda: _evicted_at_least(control_plane, namespace, 1), within=40)
                    await kube.request(
                        "POST", api_path("apps/v1", "replicasets", namespace=namespace),
                        body=replica_set("demand", up))
                    assert await eventually(lambda: _commands(bmc_b), within=20)
                    in_flight = {name: dict(codes) for name, codes in
                                 evictions(control_plane, namespace).items()}
                    assert len([n for n in victims if in_flight.get(n, {}).get(201)]) \
                        < REPLICAS, in_flight  # the drain is under way, not done
                    stopped = time.monotonic()
                    control_plane.stop_apiserver()
                    await asyncio.sleep(OUTAGE)
                    await asyncio.to_thread(control_plane.start_apiserver)
                    restarted = time.monotonic()
                    drain_done, join_done = await asyncio.gather(
                        _when(lambda: _state(kube, drained, "off"), within=90),
                        _when(lambda: _state(kube, joining, "ready"), within=90))
                assert drain_done and join_done, (await state(kube, drained),
                                                  await state(kube, joining))
                assert not service.supervisor.failures
                assert service.elector is not None and service.elector.stepped_down_at is None
        # what the peers received, not what the controller believes it sent
        counted = evictions(control_plane, namespace)
        assert {name: counted[name][201] for name in victims} == dict.fromkeys(victims, 1)
        assert set(counted) <= set(victims)  # nothing else was evicted
        assert bmc_b.commands() == ["set power 1"]
        assert bmc_a.commands() == ["set shutdown 1"]
        assert bmc_s.commands() == []
    print(f"\napiserver faults: down {restarted - stopped:.1f} s (dead {OUTAGE:g} s, "
          f"then start to /readyz); machine off {drain_done - restarted:.1f} s and joined "
          f"{join_done - restarted:.1f} s after it answered; evictions in flight at the stop "
          f"{in_flight}; eviction requests per pod "
          f"{ {name: dict(codes) for name, codes in counted.items()} }")


async def _workload(kube: KubeClient, namespace: str, pool: str, drained: str,
                    spare: str) -> None:
    """REPLICAS pods on the machine to drain under a budget of one disruption, and a pod
    without a controller on the spare, which keeps it from being offered."""
    web = replica_set("web", pool, cpu="100m")
    web["spec"]["replicas"] = REPLICAS
    await kube.request("POST", api_path("apps/v1", "replicasets", namespace=namespace),
                       body=web)
    await kube.request("POST", api_path("policy/v1beta1", "poddisruptionbudgets",
                                        namespace=namespace), body={
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    pinned = replica_set("pinned", pool, cpu="100m")["spec"]["template"]
    pinned["metadata"] = {"name": "pinned"}
    pinned["spec"]["nodeName"] = spare
    await kube.request("POST", api_path("v1", "pods", namespace=namespace), body=pinned)
    assert await eventually(lambda: _count(pods_on(kube, namespace, drained), REPLICAS),
                            within=40)
    assert await eventually(lambda: _budget_allows(kube, namespace), within=30)


async def _count(pods: Any, wanted: int) -> bool:
    return len(await pods) >= wanted


async def _budget_allows(kube: KubeClient, namespace: str) -> bool:
    pdb = await kube.request("GET", api_path("policy/v1beta1", "poddisruptionbudgets",
                                             namespace=namespace, name="web"))
    return int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) == 1


async def _when(check: Any, *, within: float) -> float | None:
    """The monotonic time check() first held, or None if it did not within that long."""
    return time.monotonic() if await eventually(check, within=within) else None


async def _evicted_at_least(plane: ControlPlane, namespace: str, count: int) -> bool:
    done = sum(codes[201] for codes in evictions(plane, namespace).values())
    return done >= count


async def _commands(bmc: IpmiSim) -> list[str]:
    return bmc.commands()


async def _state(kube: KubeClient, name: str, wanted: str) -> bool:
    try:
        return await state(kube, name) == wanted
    except KubeUnavailable:  # the API server is starting again
        return False


async def test_a_leader_that_cannot_renew_stops_before_its_lease_expires_and_sends_nothing(
        control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """No-CRD mode with credentials from a file: nothing on the power path needs the
    API server, so a leader cut off from it would power a machine on unless it stops
    in time. The pool's one ready machine reports pressure high enough to want a second
    one, after an 8 s stabilization window; the API server is paused (connections
    accepted, nothing answered) as soon as the controller starts waiting out the
    window, so the renewal hangs instead of failing."""
    caplog.set_level(logging.WARNING, logger="controller.kube.leader")
    suffix = uuid.uuid4().hex[:5]
    pool, busy, spare = f"lease-{suffix}", f"d-{suffix}", f"c-{suffix}"
    secret = tmp_path / "bmc.yaml"
    secret.write_text(f"username: {USERNAME}\npassword: {PASSWORD}\n")
    credentials = f"{{file: {secret}}}"
    with bmcs(True, False) as (bmc_busy, bmc):
        config = ("pools:\n" + pool_yaml(pool, window="8s") + "machines:\n"
                  + machine_yaml(busy, pool, bmc_busy, credentials)
                  + machine_yaml(spare, pool, bmc, credentials))
        service_settings = settings(tmp_path, control_plane, namespace, config, {busy: "token-d"},
                                    lease=SHORT, state_file=tmp_path / "records.json",
                                    node_lost_after=600.0)
        await FileMachineStore(tmp_path / "records.json").put(busy, MachineRecord(
            state=MachineState.READY, since=time.time() - 60, kubernetes_node=busy,
            power_state="on"))
        service = ControllerService(service_settings)
        first = asyncio.create_task(service.run())
        try:
            assert await eventually(lambda: _leading(service), within=30)
            async with _pressing(service, busy, "token-d"):
                assert await eventually(lambda: _stabilizing(service, pool), within=20)
                control_plane.pause_apiserver()
                paused = time.time()
                assert await asyncio.wait_for(first, 30) == 1  # stepped down and exited
                exited = time.time()
        finally:
            control_plane.resume_apiserver()
            if not first.done():
                service.stop()
        elector = service.elector
        assert elector is not None and elector.stepped_down_at is not None
        [step] = [r for r in caplog.records if "lost leadership" in r.getMessage()]
        lease = await kube.request("GET", api_path("coordination.k8s.io/v1", "leases",
                                                   namespace=namespace, name=LEASE_NAME))
        renewed = _wall(lease["spec"]["renewTime"])
        expiry = renewed + float(lease["spec"]["leaseDurationSeconds"])
        assert renewed <= paused
        assert step.created < expiry  # stopped acting before anyone else could start
        since_renewal = elector.stepped_down_at - (elector.renew_deadline - SHORT.renew_seconds)
        assert SHORT.renew_seconds <= since_renewal < SHORT.lease_seconds
        assert bmc.timed_commands() == []  # the power-on fell due after the step-down
        assert bmc_busy.timed_commands() == []

        # Kubernetes restarts the pod: the same replica, the API server back; it takes
        # the Lease (its own) and sends the power-on, once.
        restarted = time.time()
        async with running(service_settings) as second, _pressing(second, busy, "token-d"):
            assert await eventually(lambda: _commands(bmc), within=40)
        sent = bmc.timed_commands()
        assert [command for _, command in sent] == ["set power 1"]
        assert all(at >= restarted for at, _ in sent)
    print(f"\nlease: last renewal {paused - renewed:.2f} s before the pause; stepped down "
          f"{step.created - renewed:.2f} s after it ({since_renewal:.2f} s on the monotonic "
          f"clock from the renewal's start), {expiry - step.created:.2f} s before the Lease's "
          f"expiry; exited {exited - paused:.2f} s after the pause; power-on "
          f"{sent[0][0] - restarted:.2f} s after the restart")


@contextlib.asynccontextmanager
async def _pressing(service: ControllerService, node: str, token: str) -> AsyncIterator[None]:
    """The node's agent reports CPU pressure that wants another machine."""
    stream = AgentStream(f"ws://127.0.0.1:{service.port}/v1/stream", node, token)
    stream.levels = {"cpu": 0.95, "memory": 0.5, "network": 0.05}
    stream.rates = {"cpu": 0.01, "memory": 0.0, "network": 0.0}
    async with stream:
        yield


async def _leading(service: ControllerService) -> bool:
    return bool(service.metrics.leader._value.get() == 1)


async def _stabilizing(service: ControllerService, pool: str) -> bool:
    reactor = getattr(service, "reactor", None)
    return reactor is not None and any(
        d.pool == pool and "stabilizing" in d.reason for d in reactor.decisions)


def _wall(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
