"""The objects `kubectl apply -k daemonset/` installs say what the install guide promises.

These read kustomize's output offline; tests/ship/test_apiserver.py sends the same
objects to a real API server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from controller.config import declared_machine, load_config_text
from controller.power import DRIVERS
from tests.ship.shipped import (
    CONFIG,
    DASHBOARD,
    EXAMPLES,
    NAMESPACE,
    Manifest,
    container,
    find,
    kustomize,
)


@pytest.fixture(scope="module")
def objects() -> list[Manifest]:
    return kustomize()


def test_everything_is_namespaced_where_it_should_be(objects: list[Manifest]) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole",
                      "ClusterRoleBinding"}
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in cluster_scoped:
            assert namespace is None, obj["metadata"]
        elif obj["metadata"]["name"] == "bamel-controller-events":
            assert namespace == "default"  # Events of cluster-scoped objects live there
        elif obj["metadata"]["name"] == "bamel-controller-node-leases":
            assert namespace == "kube-node-lease"  # a join waits for the kubelet's Lease
        else:
            assert namespace == NAMESPACE, obj["metadata"]
    assert objects[0]["kind"] == "Namespace"  # created before what goes in it
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "DaemonSet", "Service",
            "NetworkPolicy", "ConfigMap"} <= kinds


def test_agent_gets_bpf_capabilities_not_privileged_mode(objects: list[Manifest]) -> None:
    agent = find(objects, "DaemonSet", "bamel-agent")
    pod = agent["spec"]["template"]["spec"]
    security = container(agent)["securityContext"]
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON"]}
    assert pod["automountServiceAccountToken"] is False
    assert "hostPID" not in pod


def test_agent_mounts_what_bcc_needs_from_the_host_read_only(objects: list[Manifest]) -> None:
    agent = find(objects, "DaemonSet", "bamel-agent")
    pod = agent["spec"]["template"]["spec"]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert set(host_paths.values()) == {"/sys/kernel/tracing", "/sys/kernel/debug",
                                        "/lib/modules", "/usr/src"}
    mounts = {m["name"]: m for m in container(agent)["volumeMounts"]}
    for name, path in host_paths.items():
        assert mounts[name]["mountPath"] == path
        assert mounts[name]["readOnly"] is True


def test_agent_knows_its_node_and_presents_that_nodes_token(objects: list[Manifest]) -> None:
    agent = find(objects, "DaemonSet", "bamel-agent")
    spec = container(agent)
    env = {e["name"]: e for e in spec["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    args = spec["args"]
    assert args[0] == "agent"
    assert "--token-file=/var/run/bamel/tokens/$(NODE_NAME)" in args
    assert "--controller=ws://bamel-controller.bamel-system.svc:8080/v1/stream" in args
    volumes = {v["name"]: v for v in agent["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tokens"]["secret"]["secretName"] == "bamel-agent-tokens"


def test_agent_runs_on_every_node_with_bounded_resources(objects: list[Manifest]) -> None:
    agent = find(objects, "DaemonSet", "bamel-agent")
    pod = agent["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]  # bamel.io/unconfirmed included
    assert "nodeSelector" not in pod and "affinity" not in pod
    _assert_bounded(container(agent)["resources"])
    annotations = agent["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9102"


def test_controller_is_two_unprivileged_replicas_with_probes(objects: list[Manifest]) -> None:
    deployment = find(objects, "Deployment", "bamel-controller")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "bamel-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    spec = container(deployment)
    assert spec["securityContext"] == {"allowPrivilegeEscalation": False,
                                       "readOnlyRootFilesystem": True,
                                       "capabilities": {"drop": ["ALL"]}}
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    _assert_bounded(spec["resources"])
    args = spec["args"]
    assert args[0] == "controller"
    assert "--configmap=$(POD_NAMESPACE)/bamel-config" in args
    assert "--agent-tokens=/var/run/bamel/agent-tokens" in args
    assert "--no-leader-elect" not in args
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in spec["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_service_routes_to_the_controller_and_is_scraped(objects: list[Manifest]) -> None:
    service = find(objects, "Service", "bamel-controller")
    deployment = find(objects, "Deployment", "bamel-controller")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_network_policy_admits_only_agents_and_scrapers_to_the_port(
        objects: list[Manifest]) -> None:
    policy = find(objects, "NetworkPolicy", "bamel-controller")
    deployment = find(objects, "Deployment", "bamel-controller")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    sources = rule["from"]
    assert all(source for source in sources)  # an empty peer would admit everyone
    agent_labels = find(objects, "DaemonSet", "bamel-agent")["spec"]["template"]["metadata"][
        "labels"]
    selectors = [s["podSelector"]["matchLabels"] for s in sources if "podSelector" in s]
    assert any(selector.items() <= agent_labels.items() for selector in selectors)


def test_configmap_holds_a_valid_configuration(objects: list[Manifest]) -> None:
    configmap = find(objects, "ConfigMap", "bamel-config")
    text = configmap["data"]["config.yaml"]
    assert text == CONFIG.read_text(encoding="utf-8")
    config = load_config_text(text)
    drivers = {m.power.on.driver for m in config.machines} | {
        m.power.off.driver for m in config.machines}
    assert drivers == {"ipmi", "redfish", "wol", "ssh", "command"}


def test_dashboard_configmap_is_found_by_grafanas_sidecar(objects: list[Manifest]) -> None:
    configmap = find(objects, "ConfigMap", "bamel-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["bamel.json"]) == json.loads(DASHBOARD.read_text())


def test_examples_cover_every_secret_the_configuration_names() -> None:
    config = load_config_text(CONFIG.read_text(encoding="utf-8"))
    secrets = {doc["metadata"]["name"]: doc for doc in _examples("secrets.yaml")}
    for machine in config.machines:
        assert machine.power.credentials is not None
        assert machine.power.credentials.secret in secrets, machine.name
        assert machine.name in secrets["bamel-agent-tokens"]["stringData"]
    assert {s["type"] for s in secrets.values()} == {
        "Opaque", "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth"}
    machines = {doc["metadata"]["name"] for doc in _examples("baremetalnodes.yaml")}
    assert machines == {m.name for m in config.machines}


def test_example_baremetalnodes_declare_the_configurations_machines_exactly() -> None:
    """Declared instead of listed, each example is the machine config.yaml lists."""
    config = load_config_text(CONFIG.read_text(encoding="utf-8"))
    pools = [pool.name for pool in config.pools]
    for doc in _examples("baremetalnodes.yaml"):
        name = doc["metadata"]["name"]
        declared = declared_machine(name, doc["spec"], pools=pools, drivers=DRIVERS)
        assert declared == next(m for m in config.machines if m.name == name)


def _examples(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]


def _assert_bounded(resources: dict[str, Any]) -> None:
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, resources
