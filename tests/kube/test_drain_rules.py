"""Which nodes may be drained: the pure refusal rules."""

from __future__ import annotations

from typing import Any

from controller.kube.draining import refusal


def _pod(name: str, *, owner: str | None = "ReplicaSet", annotations: dict[str, str] | None = None,
         volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    refs = [{"kind": owner, "controller": True}] if owner else []
    return {"metadata": {"name": name, "namespace": "n", "ownerReferences": refs,
                         "annotations": annotations or {}},
            "spec": {"volumes": volumes or []}, "status": {"phase": "Running"}}


NODE: dict[str, Any] = {"metadata": {"name": "n1"}}


def test_controlled_pods_are_drainable() -> None:
    assert refusal(NODE, [_pod("a"), _pod("ds", owner="DaemonSet")], allow_empty_dir=False) is None


def test_daemonset_and_mirror_pods_are_skipped() -> None:
    mirror = _pod("m", owner=None, annotations={"kubernetes.io/config.mirror": "x"})
    assert refusal(NODE, [mirror, _pod("ds", owner="DaemonSet", volumes=[{"emptyDir": {}}])],
                   allow_empty_dir=False) is None


def test_refusals_name_the_reason() -> None:
    scratch = _pod("s", volumes=[{"name": "tmp", "emptyDir": {}}])
    assert "emptyDir" in str(refusal(NODE, [scratch], allow_empty_dir=False))
    assert refusal(NODE, [scratch], allow_empty_dir=True) is None
    assert "no controller" in str(refusal(NODE, [_pod("b", owner=None)], allow_empty_dir=False))
    pinned = _pod("p", annotations={"bamel.io/safe-to-evict": "false"})
    assert "safe-to-evict" in str(refusal(NODE, [pinned], allow_empty_dir=False))
    disabled = {"metadata": {"annotations": {"bamel.io/scale-down-disabled": "true"}}}
    assert "scale-down-disabled" in str(refusal(disabled, [], allow_empty_dir=False))


def test_the_rules_other_autoscalers_users_write_hold_for_drains_too() -> None:
    for key, value in [("cluster-autoscaler.kubernetes.io/safe-to-evict", "false"),
                       ("karpenter.sh/do-not-disrupt", "true")]:
        assert key in str(refusal(NODE, [_pod("p", annotations={key: value})],
                                  allow_empty_dir=False))
    disabled = {"metadata": {"annotations": {
        "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"}}}
    assert "scale-down-disabled" in str(refusal(disabled, [], allow_empty_dir=False))
    host = _pod("h", volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])
    assert "hostPath" in str(refusal(NODE, [host], allow_empty_dir=True))


def test_safe_to_evict_true_lets_a_pod_without_controller_go() -> None:
    safe = _pod("b", owner=None, annotations={"bamel.io/safe-to-evict": "true"})
    assert refusal(NODE, [safe], allow_empty_dir=False) is None


def test_budgets_are_left_to_the_eviction_api() -> None:
    system = _pod("dns")
    system["metadata"]["namespace"] = "kube-system"
    assert refusal(NODE, [system], allow_empty_dir=False) is None
