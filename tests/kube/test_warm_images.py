"""Which images a joined machine pulls: the pool's running pods' images, most used first."""

from __future__ import annotations

from typing import Any

from controller.config import PoolSpec, WarmUpSpec
from controller.kube.warmimages import (
    chosen_images,
    counted,
    node_images,
    normal_image,
    pool_nodes,
    top_images,
)


def running(name: str, node: str, *images: str, phase: str = "Running",
            init: tuple[str, ...] = (), **meta: Any) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    inits = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return {"metadata": {"name": name, "namespace": "apps", **meta},
            "spec": {"nodeName": node, "containers": containers, "initContainers": inits},
            "status": {"phase": phase}}


def test_names_are_compared_in_their_full_form() -> None:
    assert normal_image("nginx") == "docker.io/library/nginx:latest"
    assert normal_image("nginx:1.25") == "docker.io/library/nginx:1.25"
    assert normal_image("me/app:1") == "docker.io/me/app:1"
    assert normal_image("registry.example.com:5000/team/app") == \
        "registry.example.com:5000/team/app:latest"
    assert normal_image("localhost/app:2") == "localhost/app:2"
    assert normal_image("quay.io/x/y@sha256:abc") == "quay.io/x/y@sha256:abc"
    assert normal_image("busybox@sha256:abc") == "docker.io/library/busybox@sha256:abc"


def test_a_node_holds_every_name_its_status_lists() -> None:
    node = {"status": {"images": [
        {"names": ["docker.io/library/nginx@sha256:1", "docker.io/library/nginx:1.25"]},
        {"names": ["quay.io/x/y:2"]}, {}]}}
    assert node_images(node) == {"docker.io/library/nginx@sha256:1",
                                 "docker.io/library/nginx:1.25", "quay.io/x/y:2"}
    assert node_images({}) == frozenset()


def test_each_running_pod_on_the_pools_nodes_counts_each_image_once() -> None:
    daemon = [{"kind": "DaemonSet", "name": "agent", "controller": True}]
    pods = [
        running("a", "n1", "app:1", "app:1", "sidecar:2", init=("init:1",)),
        running("b", "n2", "app:1"),
        running("c", "elsewhere", "other:1"),
        running("d", "n1", "pending:1", phase="Pending"),
        running("e", "n1", "ended:1", phase="Succeeded"),
        running("f", "n1", "agent:1", ownerReferences=daemon),
        running("g", "n1", "old:1", labels={"bamel.io/warm-up": "m1"}),
    ]
    assert counted(pods, nodes={"n1", "n2"}) == {
        "docker.io/library/app:1": 2, "docker.io/library/sidecar:2": 1,
        "docker.io/library/init:1": 1}


def test_top_n_by_pods_ties_by_name_without_what_the_node_holds() -> None:
    counts = {"b": 3, "a": 3, "c": 5, "d": 1, "e": 2}
    assert top_images(counts, top=3) == ("c", "a", "b")
    assert top_images(counts, top=3, present={"a"}) == ("c", "b", "e")
    assert top_images(counts, top=10, present={"c"}) == ("a", "b", "e", "d")
    assert top_images({}, top=3) == ()


def test_the_pools_setting_chooses() -> None:
    counts = {"docker.io/library/app:1": 4, "docker.io/library/db:2": 2}
    held = {"docker.io/library/db:2"}
    assert chosen_images(WarmUpSpec(), counts=counts, present=()) == ()
    assert chosen_images(WarmUpSpec(mode="top", top=1), counts=counts, present=()) == (
        "docker.io/library/app:1",)
    assert chosen_images(WarmUpSpec(mode="top"), counts=counts, present=held) == (
        "docker.io/library/app:1",)
    listed = WarmUpSpec(mode="list", images=["db:2", "cache:7", "docker.io/library/cache:7"])
    assert chosen_images(listed, counts=counts, present=held) == (
        "docker.io/library/cache:7",)


def test_the_pools_nodes_are_its_machines_and_nodes_with_its_labels() -> None:
    nodes = {
        "static": {"metadata": {"labels": {"bamel.io/pool": "general", "zone": "a"}}},
        "other": {"metadata": {"labels": {"bamel.io/pool": "gpu"}}},
        "bare": {"metadata": {}},
    }
    pool = PoolSpec(name="general", labels={"bamel.io/pool": "general"})
    assert pool_nodes(pool, machines=["m1"], nodes=nodes) == {"m1", "static"}
    unlabelled = PoolSpec(name="general")
    assert pool_nodes(unlabelled, machines=["m1"], nodes=nodes) == {"m1"}
