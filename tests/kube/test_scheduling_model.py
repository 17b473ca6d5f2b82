"""Pods, Nodes and budgets from the API's JSON into the planning model (pure)."""

from __future__ import annotations

from typing import Any

from controller.config.schema import PoolSpec, Taint
from controller.kube.scheduling import (
    UNSCHEDULABLE_TAINT,
    learned_from_node,
    node_state,
    node_template,
    parse_budget,
    parse_pod,
    pod_requests,
    pool_can_host,
    requests_of,
)
from controller.planning.pods import (
    AntiAffinityTerm,
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    Owner,
    Requirement,
    Toleration,
    Volume,
)
from controller.planning.scaledown import check_nodes
from controller.planning.templates import Taint as NodeTaint

GiB = 2.0**30


def container(requests: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": "c", "resources": {"requests": requests}, **extra}


def test_requests_sum_containers_against_the_largest_init_container() -> None:
    spec = {"containers": [container({"cpu": "500m", "memory": "1Gi"}),
                           container({"cpu": "1", "nvidia.com/gpu": "1"})],
            "initContainers": [container({"cpu": "2"}), container({"memory": "512Mi"})]}
    assert requests_of(spec) == {"cpu": 2.0, "memory": GiB, "nvidia.com/gpu": 1.0}


def test_sidecars_add_to_the_sum_and_run_beside_later_init_containers() -> None:
    spec = {"containers": [container({"cpu": "1"})],
            "initContainers": [container({"cpu": "500m"}, restartPolicy="Always"),
                               container({"cpu": "2"})]}
    # containers + sidecar = 1.5; the init container runs beside the sidecar: 2.5
    assert requests_of(spec) == {"cpu": 2.5}


def test_overhead_is_added() -> None:
    spec = {"containers": [container({"cpu": "1"})], "overhead": {"cpu": "250m"}}
    assert requests_of(spec) == {"cpu": 1.25}


def test_the_four_project_resources_keep_their_names() -> None:
    pod = {"spec": {"containers": [container({"cpu": "2", "memory": "1Gi",
                                              "bamel.io/network": "1G", "nvidia.com/gpu": "1",
                                              "example.com/fpga": "1"})]}}
    assert pod_requests(pod) == {"cpu": 2.0, "memory": GiB, "network": 1e9, "gpu": 1.0}


def full_pod() -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "shop", "name": "web-1", "labels": {"app": "web"},
            "annotations": {"karpenter.sh/do-not-disrupt": "true"},
            "ownerReferences": [{"kind": "Node", "name": "n"},
                                {"kind": "ReplicaSet", "name": "web-abc", "controller": True}]},
        "spec": {
            "nodeName": "node-1", "priority": 1000, "schedulingGates": [{"name": "wait"}],
            "nodeSelector": {"disk": "ssd"},
            "containers": [container({"cpu": "1"}, ports=[
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
                {"containerPort": 9090}])],
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "k", "value": "v"}],
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "cores", "operator": "Gt",
                                               "values": ["8"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In",
                                          "values": ["node-9"]}]}]}},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}},
                     "topologyKey": "kubernetes.io/hostname"},
                    {"labelSelector": {"matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["db"]}]},
                     "namespaces": ["data"], "topologyKey": "kubernetes.io/hostname"},
                    {"labelSelector": {"matchLabels": {"app": "web"}},
                     "namespaceSelector": {}, "topologyKey": "kubernetes.io/hostname"},
                    {"labelSelector": {"matchLabels": {"app": "web"}},
                     "topologyKey": "topology.kubernetes.io/zone"},
                    {"topologyKey": "kubernetes.io/hostname"}]},
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {}, "topologyKey": "kubernetes.io/hostname"}]}},
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "zone"},
                {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway"}],
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "logs", "hostPath": {}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
                        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}],
        },
        "status": {"phase": "Running", "nominatedNodeName": "node-2"},
    }


def test_a_pod_parses_into_the_model() -> None:
    pod = parse_pod(full_pod())
    assert (pod.namespace, pod.name, pod.key) == ("shop", "web-1", "shop/web-1")
    assert (pod.node_name, pod.priority, pod.scheduling_gated, pod.nominated_node) == (
        "node-1", 1000, True, "node-2")
    assert pod.owner == Owner("ReplicaSet", "web-abc")
    assert pod.annotations == {"karpenter.sh/do-not-disrupt": "true"}
    assert pod.phase == "Running"
    assert pod.volumes == (Volume("tmp", "emptyDir"), Volume("logs", "hostPath"),
                           Volume("data", "persistentVolumeClaim"),
                           Volume("scratch", "ephemeral"))
    shape = pod.shape
    assert shape.namespace == "shop"
    assert shape.request_map == {"cpu": 1.0, "pods": 1.0}
    assert shape.node_selector == (("disk", "ssd"),)
    assert shape.node_affinity == (
        NodeSelectorTerm((Requirement("cores", "Gt", ("8",)),)),
        NodeSelectorTerm(fields=(Requirement("metadata.name", "In", ("node-9",)),)))
    assert shape.tolerations == (Toleration("gpu", "Exists", "", "NoSchedule"),
                                 Toleration("k", "Equal", "v", ""))
    assert shape.anti_affinity == (
        AntiAffinityTerm(LabelSelector.of({"app": "web"}), frozenset({"shop"})),
        AntiAffinityTerm(LabelSelector((Requirement("tier", "In", ("db",)),)),
                         frozenset({"data"})),
        AntiAffinityTerm(LabelSelector.of({"app": "web"}), None))
    assert shape.host_ports == (HostPort(53, "UDP", "10.0.0.1"), HostPort(8080))
    assert pod.unmodelled == (
        "pod anti-affinity on topology key topology.kubernetes.io/zone",
        "required pod affinity", "topology spread on zone",
        "volume topology of persistentVolumeClaim volume data",
        "volume topology of ephemeral volume scratch")


def test_a_bare_pod_has_the_defaults() -> None:
    pod = parse_pod({"metadata": {"name": "p"}, "spec": {"containers": [container({})]}})
    assert (pod.namespace, pod.priority, pod.owner, pod.phase) == ("default", 0, None, "Pending")
    assert pod.shape.requests == (("pods", 1.0),)
    assert not pod.scheduling_gated


def test_pods_of_one_template_share_one_shape() -> None:
    first, second = full_pod(), full_pod()
    second["metadata"]["name"] = "web-2"
    assert parse_pod(first).shape is parse_pod(second).shape


def test_pool_can_host_uses_the_pools_labels_taints_and_the_os_label() -> None:
    pool = PoolSpec(name="gpu", labels={"pool": "gpu", "cores": "32"},
                    taints=[Taint(key="gpu", effect="NoSchedule")])
    tolerant = {"tolerations": [{"key": "gpu", "operator": "Exists"}]}
    assert not pool_can_host({"spec": {}}, pool)
    assert pool_can_host({"spec": {**tolerant, "nodeSelector": {"kubernetes.io/os": "linux"}}},
                         pool)
    greater = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "cores", "operator": "Gt", "values": ["16"]}]}]}}}
    assert pool_can_host({"spec": {**tolerant, "affinity": greater}}, pool)


def node_json(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "a": "b"},
                         "annotations": {"bamel.io/scale-down-disabled": "true"}},
            "spec": spec,
            "status": {"allocatable": {"cpu": "3900m", "memory": "15Gi", "pods": "110",
                                       "nvidia.com/gpu": "2"}}}


def test_a_node_parses_into_a_template_and_its_cordon_into_a_taint() -> None:
    template = node_template(node_json(taints=[{"key": "k", "value": "v",
                                                "effect": "NoExecute"}]))
    assert template.name == "n1"
    assert template.allocatable == {"cpu": 3.9, "memory": 15 * GiB, "pods": 110.0,
                                    "nvidia.com/gpu": 2.0}
    assert template.labels == {"kubernetes.io/hostname": "n1", "a": "b"}
    assert template.taints == (NodeTaint("k", "v", "NoExecute"),)
    cordoned = node_template(node_json(unschedulable=True))
    assert cordoned.taints == (UNSCHEDULABLE_TAINT,)
    assert learned_from_node(node_json()) == (template.allocatable, template.labels)


def test_a_node_state_keeps_its_annotations_for_the_simulation() -> None:
    pod = parse_pod({"metadata": {"name": "p", "ownerReferences": [
        {"kind": "ReplicaSet", "controller": True}]}, "spec": {"containers": [container({})]}})
    verdicts = check_nodes([node_state(node_json(), [pod])])
    assert verdicts["n1"].reason == "node is annotated bamel.io/scale-down-disabled"


def budget_json(selector: dict[str, Any] | None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "web", "generation": 2},
            "spec": {"selector": selector} if selector is not None else {},
            "status": {"disruptionsAllowed": 1, "observedGeneration": 2, **status}}


def test_budgets_parse_with_their_selector_and_allowance() -> None:
    budget = parse_budget(budget_json({"matchLabels": {"app": "web"}}))
    assert (budget.key, budget.disruptions_allowed) == ("shop/web", 1)
    assert budget.covers("shop", {"app": "web"})
    assert not budget.covers("other", {"app": "web"})
    assert not budget.covers("shop", {"app": "api"})


def test_an_empty_selector_covers_the_namespace_in_v1_and_nothing_in_v1beta1() -> None:
    assert parse_budget(budget_json({})).covers("shop", {"any": "thing"})
    assert not parse_budget(budget_json({}), api_version="policy/v1beta1").covers("shop", {})
    assert not parse_budget(budget_json(None)).covers("shop", {})


def test_a_budget_whose_status_is_behind_its_spec_allows_nothing() -> None:
    assert parse_budget(budget_json({}, observedGeneration=1)).disruptions_allowed == 0


def test_preferences_do_not_constrain() -> None:
    preferred = {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"labelSelector": {}, "topologyKey": "zone"}}]}
    pod = parse_pod({"metadata": {"name": "p"}, "spec": {
        "containers": [container({})],
        "affinity": {"podAntiAffinity": preferred, "podAffinity": preferred,
                     "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                         {"weight": 1, "preference": {"matchExpressions": [
                             {"key": "zone", "operator": "In", "values": ["a"]}]}}]}}}})
    assert pod.shape.node_affinity == ()
    assert pod.shape.anti_affinity == ()
    assert pod.unmodelled == ()
