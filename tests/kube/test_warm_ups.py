"""The warm-up component's decisions, with a client that records the requests it gets.

The real control plane runs the same paths in tests/service/test_warm_up.py; this
covers what a hollow node cannot show: a Node that holds the images already, a pod
that exists already, an API server that refuses, a pod that ends Failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controller.config import AutoscalerConfig, load_config_text
from controller.kube.errors import KubeConflict, KubeError, KubeForbidden
from controller.kube.scheduling import parse_pod
from controller.kube.warmup import WarmUps, warm_up_pod
from controller.kube.watching import Change
from controller.planning.disruption import pod_blocker

NOW = 1_800_000_000.0


def config(warm_up: str) -> AutoscalerConfig:
    return load_config_text(f"""apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools:
  - name: general
    labels: {{bamel.io/pool: general}}
    warmUp: {warm_up}
machines:
  - name: m1
    pool: general
    capacity: {{cpu: "8", memory: 16Gi}}
    power: {{on: {{driver: wol}}, off: {{driver: ssh}}}}
""")


class Recording:
    """Answers every request with its body, or raises the error set for its method."""

    def __init__(self, **errors: KubeError) -> None:
        self.errors = errors
        self.calls: list[tuple[str, str, Any]] = []

    async def request(self, method: str, path: str, *, body: Any = None,
                      **_: Any) -> dict[str, Any]:
        self.calls.append((method, path, body))
        if method in self.errors:
            raise self.errors[method]
        return dict(body or {})


NODE = {"metadata": {"name": "m1", "uid": "u1", "labels": {"bamel.io/pool": "general"}},
        "status": {"images": [{"names": ["docker.io/library/db:2"]}]}}
POD = {"metadata": {"name": "app", "namespace": "apps"},
       "spec": {"nodeName": "static", "containers": [{"name": "c", "image": "db:2"}]},
       "status": {"phase": "Running"}}
STATIC = {"metadata": {"name": "static", "labels": {"bamel.io/pool": "general"}}}


async def settled() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def tallied() -> list[tuple[str, str]]:
    return []


def warm_ups(client: Recording, warm_up: str, tallied: list[tuple[str, str]]) -> WarmUps:
    current = config(warm_up)
    return WarmUps(client, namespace="bamel-system",  # type: ignore[arg-type]
                   config=lambda: current, pods={"apps/app": POD},
                   nodes={"m1": NODE, "static": STATIC},
                   tally=lambda pool, what: tallied.append((pool, what)), wall=lambda: NOW)


async def run(component: WarmUps, *steps: Change | str) -> None:
    """Start the component, hand it each step in turn (a pod change, or the name of a
    node that joined), let its task work after each, then stop it."""
    await component.start()
    machine = component.config().machines[0]
    for step in steps:
        if isinstance(step, str):
            component.joined(machine, step)
        else:
            component.observe(step)
        await settled()
    await component.close()


async def test_off_asks_nothing(tallied: list[tuple[str, str]]) -> None:
    client = Recording()
    await run(warm_ups(client, "{mode: off}", tallied), "m1")
    assert (client.calls, tallied) == ([], [])


async def test_a_node_holding_every_image_gets_no_pod(tallied: list[tuple[str, str]]) -> None:
    client = Recording()
    await run(warm_ups(client, "{mode: top}", tallied), "m1")
    assert (client.calls, tallied) == ([], [])


async def test_one_that_lacks_an_image_gets_it(tallied: list[tuple[str, str]]) -> None:
    client = Recording()
    await run(warm_ups(client, "{mode: list, images: [db:2, cache:7]}", tallied), "m1")
    [(method, path, body)] = client.calls
    assert (method, path) == ("POST", "/api/v1/namespaces/bamel-system/pods")
    assert [c["image"] for c in body["spec"]["containers"]] == ["docker.io/library/cache:7"]
    assert tallied == [("general", "started")]


@pytest.mark.parametrize("error", [KubeConflict("exists", status=409),
                                   KubeForbidden("no", status=403)])
async def test_a_refused_creation_is_not_counted_and_the_next_join_still_works(
        error: KubeError, tallied: list[tuple[str, str]]) -> None:
    client = Recording(POST=error)
    await run(warm_ups(client, "{mode: list, images: [cache:7]}", tallied), "m1", "m1")
    assert [method for method, _, _ in client.calls] == ["POST", "POST"]
    assert tallied == []


def ours(phase: str, *, namespace: str = "bamel-system", deadline: float = NOW + 60) -> Change:
    pod = warm_up_pod(machine="m1", node=NODE, pool="general", images=["cache:7"],
                      namespace=namespace, deadline=deadline, priority_class=None)
    pod["status"] = {"phase": phase}
    return Change("MODIFIED", pod, None)


async def test_an_ended_pod_is_deleted_once(tallied: list[tuple[str, str]]) -> None:
    """Seen again while it terminates, it is not deleted (nor counted) twice."""
    client = Recording()
    await run(warm_ups(client, "{mode: off}", tallied), ours("Failed"), ours("Failed"))
    assert client.calls == [
        ("DELETE", "/api/v1/namespaces/bamel-system/pods/warm-up-m1", None)]
    assert tallied == [("general", "failed")]


async def test_pods_of_other_namespaces_or_owners_and_running_ones_are_left(
        tallied: list[tuple[str, str]]) -> None:
    client = Recording()
    look_alike = ours("Succeeded")
    del look_alike.object["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    await run(warm_ups(client, "{mode: off}", tallied),
              ours("Succeeded", namespace="elsewhere"), look_alike, ours("Running"))
    assert (client.calls, tallied) == ([], [])


def test_a_drain_may_evict_it() -> None:
    """It has no controller, which would refuse the drain, so it says it may go."""
    assert pod_blocker(parse_pod(ours("Running").object), allow_empty_dir=False) is None
