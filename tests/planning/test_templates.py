"""Node templates: the Node a machine becomes, from the configuration and what it learned."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config import ConfigError, load_config_text
from controller.config.loading import dump_yaml
from controller.config.schema import AutoscalerConfig
from controller.planning.pods import HOSTNAME
from controller.planning.templates import Taint, pool_template, template_for_machine

GiB = 2.0**30


def config(pool: dict[str, Any] | None = None,
           capacity: dict[str, Any] | None = None) -> AutoscalerConfig:
    document = {
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "pools": [{"name": "gpu", **(pool or {})}],
        "machines": [{"name": "box-1", "pool": "gpu",
                      "capacity": capacity or {"cpu": 32, "memory": "128Gi"},
                      "power": {"on": {"driver": "fake"}, "off": {"driver": "fake"}}}],
    }
    return load_config_text(dump_yaml(document))


def test_allocatable_is_capacity_less_the_default_reserve_by_kubernetes_name() -> None:
    cfg = config(capacity={"cpu": 32, "memory": "128Gi", "network": "10G", "gpu": 4,
                           "extended": {"example.com/fpga": 2}})
    template = template_for_machine(cfg.machines[0], cfg.pools[0])
    assert template.allocatable == {
        "cpu": 32.0, "memory": 127 * GiB, "pods": 110.0, "bamel.io/network": 10e9,
        "nvidia.com/gpu": 4.0, "example.com/fpga": 2.0}


def test_a_machine_without_gpus_or_network_states_none() -> None:
    cfg = config()
    allocatable = template_for_machine(cfg.machines[0], cfg.pools[0]).allocatable
    assert "nvidia.com/gpu" not in allocatable
    assert "bamel.io/network" not in allocatable


def test_the_pool_sets_reserve_and_max_pods() -> None:
    cfg = config(pool={"systemReserved": {"cpu": "500m", "memory": "4Gi"}, "maxPods": 250})
    allocatable = template_for_machine(cfg.machines[0], cfg.pools[0]).allocatable
    assert (allocatable["cpu"], allocatable["memory"], allocatable["pods"]) == (
        31.5, 124 * GiB, 250.0)


def test_a_reserve_larger_than_capacity_leaves_zero() -> None:
    cfg = config(pool={"systemReserved": {"cpu": 64}})
    assert template_for_machine(cfg.machines[0], cfg.pools[0]).allocatable["cpu"] == 0.0


def test_labels_taints_and_the_hostname() -> None:
    cfg = config(pool={"labels": {"bamel.io/pool": "gpu"},
                       "taints": [{"key": "nvidia.com/gpu", "value": "present",
                                   "effect": "NoSchedule"}]})
    template = template_for_machine(cfg.machines[0], cfg.pools[0])
    assert template.name == "box-1"
    assert template.labels == {"kubernetes.io/os": "linux", "bamel.io/pool": "gpu",
                               HOSTNAME: "box-1"}
    assert template.taints == (Taint("nvidia.com/gpu", "present", "NoSchedule"),)
    renamed = template_for_machine(cfg.machines[0], cfg.pools[0], node_name="box-1.lan")
    assert (renamed.name, renamed.labels[HOSTNAME]) == ("box-1.lan", "box-1.lan")


def test_learned_values_win_key_by_key() -> None:
    cfg = config(pool={"labels": {"bamel.io/pool": "gpu"}})
    template = template_for_machine(
        cfg.machines[0], cfg.pools[0],
        learned_allocatable={"memory": 125.5 * GiB, "ephemeral-storage": 400e9,
                             "nvidia.com/gpu": 2.0},
        learned_labels={"kubernetes.io/arch": "amd64", "bamel.io/pool": "gpu"})
    assert template.allocatable == {"cpu": 32.0, "memory": 125.5 * GiB, "pods": 110.0,
                                    "ephemeral-storage": 400e9, "nvidia.com/gpu": 2.0}
    assert template.labels["kubernetes.io/arch"] == "amd64"
    assert template.labels[HOSTNAME] == "box-1"


def test_templates_alike_but_for_the_hostname_share_a_kind() -> None:
    cfg = config(pool={"labels": {"bamel.io/pool": "gpu"}})
    first = template_for_machine(cfg.machines[0], cfg.pools[0])
    second = template_for_machine(cfg.machines[0], cfg.pools[0], node_name="box-2")
    assert first.alike == second.alike
    learned = template_for_machine(cfg.machines[0], cfg.pools[0],
                                   learned_labels={"disk": "ssd"})
    assert learned.alike != first.alike


def test_the_pool_template_has_the_pools_labels_and_taints_only() -> None:
    cfg = config(pool={"labels": {"a": "b"}, "taints": [{"key": "k", "effect": "NoExecute"}]})
    template = pool_template(cfg.pools[0])
    assert template.labels == {"kubernetes.io/os": "linux", "a": "b"}
    assert template.taints == (Taint("k", "", "NoExecute"),)
    assert template.allocatable == {}


def test_extended_resources_are_named_with_a_domain_and_once() -> None:
    with pytest.raises(ConfigError, match="fpga"):
        config(capacity={"cpu": 1, "memory": "1Gi", "extended": {"fpga": 1}})
    with pytest.raises(ConfigError, match=r"write it as capacity\.gpu"):
        config(capacity={"cpu": 1, "memory": "1Gi", "extended": {"nvidia.com/gpu": 1}})


def test_reserve_and_rule_defaults() -> None:
    pool = config().pools[0]
    assert (pool.system_reserved.cpu, pool.system_reserved.memory) == (0.0, GiB)
    assert pool.max_pods == 110
    assert pool.scale_down.skip_nodes_with_system_pods is True
    assert pool.scale_down.allow_empty_dir is False
