"""Which images to pull onto a machine that just joined: a pure choice over pod JSON.

The first pods the scheduler sends to a new node are most likely the pool's usual
ones, so the images most of the pool's running pods use are the ones worth having
there before they arrive. Each image counts once per pod (a pod is what waits for
it), init containers included (a pod waits for them first); DaemonSet pods are left
out (the DaemonSet controller starts them on the node at once anyway), and so are
the warm-up pods themselves.

Names are compared in their full form (``nginx`` is ``docker.io/library/nginx:latest``)
because a pod may write an image one way while the Node lists what it holds
(``status.images``) another; an image the Node already holds is not pulled again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from controller.config.schema import PoolSpec, WarmUpSpec
from controller.kube.client import JSON
from controller.kube.scheduling import is_daemonset_pod

WARM_UP_LABEL = "bamel.io/warm-up"
"""On every warm-up pod, its machine's name as the value."""

DEFAULT_DOMAIN = "docker.io"
OFFICIAL = "library"


def normal_image(image: str) -> str:
    """The full reference the container runtime resolves: registry, path, tag or digest.

    ``nginx`` → ``docker.io/library/nginx:latest``; ``me/app:1`` → ``docker.io/me/app:1``;
    ``registry.example.com:5000/app@sha256:…`` stays as it is.
    """
    name, at, digest = image.partition("@")
    first, slash, _ = name.partition("/")
    if not slash:
        name = f"{DEFAULT_DOMAIN}/{OFFICIAL}/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"{DEFAULT_DOMAIN}/{name}"
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}{at}{digest}"


def node_images(node: Mapping[str, Any]) -> frozenset[str]:
    """Every name under which the Node says it holds an image, in full form."""
    held = (node.get("status") or {}).get("images") or ()
    return frozenset(normal_image(str(name)) for image in held
                     for name in image.get("names") or ())


def pod_images(pod: Mapping[str, Any]) -> frozenset[str]:
    """The images of a pod's containers and init containers, once each, in full form."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    return frozenset(normal_image(str(c["image"])) for c in containers if c.get("image"))


def pool_nodes(pool: PoolSpec, *, machines: Iterable[str],
               nodes: Mapping[str, JSON]) -> frozenset[str]:
    """The pool's nodes: its machines' (a machine's Node has its name), and every Node
    that carries all of the pool's labels (the join applies them)."""
    wanted = pool.labels.items()
    labelled = (name for name, node in nodes.items() if wanted
                and wanted <= ((node.get("metadata") or {}).get("labels") or {}).items())
    return frozenset((*machines, *labelled))


def counted(pods: Iterable[Mapping[str, Any]], *, nodes: Collection[str]) -> Counter[str]:
    """Image → how many Running pods on ``nodes`` use it (DaemonSet and warm-up pods
    left out)."""
    counts: Counter[str] = Counter()
    for pod in pods:
        spec = pod.get("spec") or {}
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if ((pod.get("status") or {}).get("phase") != "Running"
                or spec.get("nodeName") not in nodes
                or WARM_UP_LABEL in labels or is_daemonset_pod(dict(pod))):
            continue
        counts.update(pod_images(pod))
    return counts


def top_images(counts: Mapping[str, int], *, top: int,
               present: Collection[str] = ()) -> tuple[str, ...]:
    """The ``top`` images used by most pods, not among ``present``; ties by name, so
    the same cluster always gives the same answer."""
    ranked = sorted((image for image in counts if image not in present),
                    key=lambda image: (-counts[image], image))
    return tuple(ranked[:top])


def chosen_images(warm_up: WarmUpSpec, *, counts: Mapping[str, int],
                  present: Collection[str]) -> tuple[str, ...]:
    """What a joined node should pull by the pool's ``warmUp``: nothing when off; the
    top images, or the listed ones (in their order, once each), that it lacks."""
    if warm_up.mode == "top":
        return top_images(counts, top=warm_up.top, present=present)
    if warm_up.mode == "list":
        listed = dict.fromkeys(normal_image(image) for image in warm_up.images)
        return tuple(image for image in listed if image not in present)
    return ()
