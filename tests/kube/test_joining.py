"""Node lifecycle after power-on, against real nodes registered by hollow kubelets."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from controller.config.schema import PoolSpec, Taint
from controller.kube.client import KubeClient
from controller.kube.errors import KubeTimeout
from controller.kube.joining import (
    NodeJoiner,
    confirmed_taints,
    prepare_power_off,
    restore_after_drain,
)
from controller.kube.nodes import UNCONFIRMED_TAINT, get_node
from controller.kube.resources import BareMetalNodes, EventRecorder
from tests.kube.test_baremetalnode import SPEC

pytestmark = pytest.mark.integration
POOL = PoolSpec(name="general", labels={"bamel.io/pool": "general"})
UNCONFIRMED = {"key": UNCONFIRMED_TAINT, "effect": "NoSchedule"}


async def _machine(kube: KubeClient) -> str:
    name = f"bm-{uuid.uuid4().hex[:6]}"
    await BareMetalNodes(kube).create_machine(name, SPEC)
    return name


async def test_ready_node_is_labelled_untainted_and_ready(
    kube: KubeClient, hollow: Callable[..., Any],
) -> None:
    machine = await _machine(kube)
    node = await hollow(taints=[UNCONFIRMED], schedulable=False)
    joiner = NodeJoiner(kube, events=EventRecorder(kube), machines=BareMetalNodes(kube),
                        poll=0.2)
    joined = await joiner.join(machine, node.name, POOL, deadline_seconds=20)
    current = await get_node(kube, node.name)
    assert current["metadata"]["labels"]["bamel.io/pool"] == "general"
    assert UNCONFIRMED_TAINT not in [t["key"] for t in current["spec"].get("taints") or []]
    status = (await BareMetalNodes(kube).get(machine))["status"]
    assert status["state"] == "ready"
    assert status["observedBootSeconds"] == int(joined.seconds)
    await BareMetalNodes(kube).delete(machine)


async def test_pool_taints_are_on_the_node_once_it_has_joined(
    kube: KubeClient, hollow: Callable[..., Any],
) -> None:
    machine = await _machine(kube)
    pool = PoolSpec(name="gpu", labels={"bamel.io/pool": "gpu"},
                    taints=[Taint(key="nvidia.com/gpu", effect="NoSchedule"),
                            Taint(key="dedicated", value="ml", effect="NoExecute")])
    node = await hollow(taints=[UNCONFIRMED], schedulable=False)
    joiner = NodeJoiner(kube, events=EventRecorder(kube), machines=BareMetalNodes(kube),
                        poll=0.2)
    await joiner.join(machine, node.name, pool, deadline_seconds=20)
    current = await get_node(kube, node.name)
    taints = {(t["key"], t.get("value", ""), t["effect"]) for t in current["spec"]["taints"]}
    assert taints == {("nvidia.com/gpu", "", "NoSchedule"), ("dedicated", "ml", "NoExecute")}
    assert not current["spec"].get("unschedulable")
    await BareMetalNodes(kube).delete(machine)


@pytest.mark.parametrize(("before", "after"), [
    ([UNCONFIRMED], [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]),
    ([UNCONFIRMED, {"key": "dedicated", "value": "old", "effect": "NoSchedule"},
      {"key": "other", "effect": "NoExecute"}],
     [{"key": "other", "effect": "NoExecute"},
      {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]),
    ([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]),
])
def test_confirmed_taints_swap_unconfirmed_for_the_pools(
    before: list[dict[str, str]], after: list[dict[str, str]],
) -> None:
    pool = PoolSpec(name="ml", taints=[Taint(key="dedicated", value="ml", effect="NoSchedule")])
    assert confirmed_taints(before, pool) == after


async def test_node_never_ready_ends_in_error_with_reason(
    kube: KubeClient, hollow: Callable[..., Any],
) -> None:
    machine = await _machine(kube)
    node = await hollow(taints=[UNCONFIRMED], ready=False, schedulable=False)
    joiner = NodeJoiner(kube, events=EventRecorder(kube), machines=BareMetalNodes(kube),
                        poll=0.2)
    with pytest.raises(KubeTimeout):
        await joiner.join(machine, node.name, POOL, deadline_seconds=2)
    status = (await BareMetalNodes(kube).get(machine))["status"]
    assert status["state"] == "error"
    assert "KubeletNotReady" in status["lastError"]
    current = await get_node(kube, node.name)
    assert UNCONFIRMED_TAINT in [t["key"] for t in current["spec"].get("taints") or []]
    events = await kube.request("GET", "/api/v1/namespaces/default/events",
                                query={"fieldSelector": f"involvedObject.name={machine}"})
    assert [e["reason"] for e in events["items"]] == ["JoinTimeout"]
    await BareMetalNodes(kube).delete(machine)


async def test_a_node_prepared_for_power_off_is_restored_to_service(
    kube: KubeClient, hollow: Callable[..., Any],
) -> None:
    other = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}
    node = await hollow(taints=[other])
    await prepare_power_off(kube, node.name)
    prepared = await get_node(kube, node.name)
    assert prepared["spec"]["unschedulable"] is True
    assert UNCONFIRMED_TAINT in [t["key"] for t in prepared["spec"]["taints"]]
    await restore_after_drain(kube, node.name)
    current = await get_node(kube, node.name)
    assert not current["spec"].get("unschedulable")
    assert [t for t in current["spec"]["taints"]
            if not t["key"].startswith("node.kubernetes.io/")] == [other]
    await restore_after_drain(kube, "no-such-node")  # a Node gone needs nothing
