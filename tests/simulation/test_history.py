"""A cluster's history as a trace, and its machines as a fleet, without a Prometheus
(the real one is in test_prometheus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from controller.config import load_config_text
from controller.config.loading import dump_yaml
from simulation.fleet import fleet_from_config
from simulation.prometheus import History, queries, redact

GIB = 2**30


def config_document() -> dict[str, object]:
    def machine(name: str, cpu: int, boot: str, idle: float) -> dict[str, object]:
        return {"name": name, "pool": "general",
                "capacity": {"cpu": cpu, "memory": "8Gi", "network": "1G"},
                "power": {"on": {"driver": "wol", "settings": {"broadcast": "10.0.0.255"}},
                          "off": {"driver": "ssh", "settings": {"host": "10.0.0.9"}}},
                "bootTime": boot, "idleWatts": idle, "busyWatts": 300}

    return {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
            "pools": [{"name": "general"}],
            "machines": [machine("small", 4, "90s", 40), machine("big", 32, "5m", 150)]}


def test_the_configuration_machines_are_the_fleet() -> None:
    config = load_config_text(dump_yaml(config_document()))
    fleet = fleet_from_config(config)
    assert fleet.names == ("small", "big")
    assert fleet.config is config
    assert fleet.capacity[:, 0].tolist() == [4, 32]
    assert fleet.boot_min.tolist() == fleet.boot_max.tolist() == [90, 300]
    assert fleet.failure_rate.tolist() == [0, 0]
    assert fleet.idle_watts.tolist() == [40, 150]
    assert fleet.world.pressure_exponent == 6


def test_history_becomes_shares_of_the_fleet_and_says_what_it_lacks() -> None:
    demand = np.array([[2.0, 4 * GIB, 0, 0], [9.0, 6 * GIB, 0, 0]])
    ksm = tuple(q for q in queries(300) if q.kind == "requested")
    history = History(np.array([0.0, 300.0]), demand, 300.0, missing=ksm, gaps=1)
    trace = history.trace(np.array([8.0, 16.0 * GIB, 1e9, 0.0]))
    assert trace.share[:, 0].tolist() == [0.25, 1.125]
    assert trace.share[:, 1].tolist() == [0.25, 0.375]
    assert trace.duration == 600
    assert trace.warnings == (
        "no cpu requested (kube-state-metrics) in this range: not counted",
        "no memory requested (kube-state-metrics) in this range: not counted",
        "1 of 2 rows have no cpu measurement: each holds the one before it",
        "at its busiest the cluster's cpu demand is 112% of the fleet's: the fleet is "
        "smaller than the cluster Prometheus measured")


def test_the_queries_count_work_and_live_pods_only() -> None:
    by_name = {(q.resource, q.kind): q.promql for q in queries(600)}
    assert 'mode!~"idle|iowait|steal"' in by_name["cpu", "used"]
    assert "[600s]" in by_name["cpu", "used"]
    assert 'phase=~"Pending|Running"' in by_name["memory", "requested"]


@pytest.mark.parametrize(("url", "shown"), [
    ("http://admin:secret@prom.example:9090/sub", "http://prom.example:9090/sub"),
    ("https://prom.example/?token=abc", "https://prom.example/"),
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
])
def test_messages_never_show_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown
