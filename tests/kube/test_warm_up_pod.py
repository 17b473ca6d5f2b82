"""The warm-up pod: pinned to the joined Node, one ``true`` container per image, ended
by its phase or its deadline."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.kube.warmup import deadline_of, outcome, warm_up_pod

NODE = {"metadata": {"name": "rack-1", "uid": "0f1e"}}
DEADLINE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


def pod(**changes: object) -> dict:
    values: dict = {"machine": "rack-1", "node": NODE, "pool": "general",
                    "images": ["docker.io/library/app:1", "quay.io/x/db:2"],
                    "namespace": "bamel-system", "deadline": DEADLINE,
                    "priority_class": None}
    return warm_up_pod(**{**values, **changes})


def test_it_is_pinned_to_the_node_tolerates_everything_and_never_restarts() -> None:
    spec = pod()["spec"]
    assert spec["nodeName"] == "rack-1"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {"runAsUser": 65534, "runAsGroup": 65534}
    assert "priorityClassName" not in spec
    assert pod(priority_class="low")["spec"]["priorityClassName"] == "low"


def test_one_true_container_per_image_with_small_requests() -> None:
    containers = pod()["spec"]["containers"]
    assert [(c["name"], c["image"], c["command"]) for c in containers] == [
        ("pull-0", "docker.io/library/app:1", ["true"]),
        ("pull-1", "quay.io/x/db:2", ["true"])]
    assert "initContainers" not in pod()["spec"]
    for container in containers:
        assert container["resources"]["requests"] == {"cpu": "1m", "memory": "8Mi"}
        assert container["imagePullPolicy"] == "IfNotPresent"


def test_its_metadata_marks_it_ours_owned_by_the_node_and_evictable() -> None:
    meta = pod()["metadata"]
    assert (meta["name"], meta["namespace"]) == ("warm-up-rack-1", "bamel-system")
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "bamel-autoscaler",
                              "bamel.io/warm-up": "rack-1"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node",
                                        "name": "rack-1", "uid": "0f1e"}]
    assert meta["annotations"] == {"bamel.io/warm-up-deadline": "2026-01-02T03:04:05Z",
                                   "bamel.io/warm-up-pool": "general",
                                   "bamel.io/safe-to-evict": "true"}
    assert deadline_of(pod()) == DEADLINE


def test_it_ends_when_it_has_ended_or_at_its_deadline() -> None:
    waiting = pod()
    assert outcome(waiting, DEADLINE - 1) is None
    assert outcome(waiting, DEADLINE) == "timed-out"
    assert outcome({**waiting, "status": {"phase": "Running"}}, DEADLINE - 1) is None
    assert outcome({**waiting, "status": {"phase": "Succeeded"}}, DEADLINE - 1) == "succeeded"
    assert outcome({**waiting, "status": {"phase": "Failed"}}, DEADLINE - 1) == "failed"


def test_a_pod_without_a_readable_deadline_is_due() -> None:
    broken = pod()
    broken["metadata"]["annotations"]["bamel.io/warm-up-deadline"] = "soon"
    assert outcome(broken, 0.0) == "timed-out"
