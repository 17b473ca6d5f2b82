"""PromQL triggers in the configuration: each error names its field and value; a
trigger needs a Prometheus to ask. Whether a query is valid PromQL is Prometheus's to
say, at evaluation (tests/controller/test_triggers_prometheus.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bamel.cli import main
from controller.config import ConfigError, load_config_text
from controller.config.loading import dump_yaml


def document(triggers: list[dict[str, Any]], prometheus: dict[str, Any] | None) -> str:
    doc: dict[str, Any] = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
                           "pools": [{"name": "general", "triggers": triggers}]}
    if prometheus is not None:
        doc["prometheus"] = prometheus
    return dump_yaml(doc)


QUEUE = {"name": "queue", "metricQuery": "sum(jobs_waiting)", "threshold": 10,
         "duration": "2m", "scaleDirection": "up"}


def test_a_trigger_reads_with_its_defaults() -> None:
    idle = {"name": "idle", "metricQuery": "sum(jobs_waiting)", "threshold": 1,
            "scaleDirection": "down"}
    config = load_config_text(document([QUEUE, idle],
                                       {"url": "http://prometheus.monitoring:9090"}))
    up, down = config.pools[0].triggers
    assert (up.duration, up.past, down.duration, down.past) == (120.0, "above", 60.0, "below")
    assert (config.prometheus.interval, config.prometheus.timeout) == (30.0, 10.0)


def test_each_error_names_its_field_and_value() -> None:
    bad = [{**QUEUE, "duration": "2 minutes"}, {**QUEUE, "scaleDirection": "sideways"},
           {**QUEUE, "comparison": "over"}, {**QUEUE, "threshold": "ten"}]
    with pytest.raises(ConfigError) as caught:
        load_config_text(document(bad, {"url": "http://127.0.0.1:9090"}))
    assert caught.value.problems == [
        "pools[0].triggers[0].duration: '2 minutes' is not a duration (like 30s, 2m, 1h30m)",
        "pools[0].triggers[1].scaleDirection: 'sideways' is not one of 'up' or 'down'",
        "pools[0].triggers[2].comparison: 'over' is not one of 'above' or 'below'",
        "pools[0].triggers[3].threshold: 'ten': Input should be a valid number, unable to "
        "parse string as a number"]


def test_a_trigger_needs_a_prometheus_and_a_query_must_end_before_the_next(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(document([QUEUE, QUEUE], {"interval": "10s", "timeout": "10s"}))
    assert main(["config", "check", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: pools[0].triggers[1].name: 'queue' repeats pools[0].triggers[0]",
        f"{path}: prometheus.url: is required: pools[0].triggers[0] ('queue') is evaluated "
        "there",
        f"{path}: prometheus.timeout: 10 is not below interval 10"]
    path.write_text(document([QUEUE], {"url": "prometheus:9090"}))
    assert main(["config", "check", str(path)]) == 1
    assert "prometheus.url: 'prometheus:9090' is not of the form" in capsys.readouterr().err


ROOT = Path(__file__).parents[2]


def test_the_examples_trigger_and_the_configmaps_commented_one_load() -> None:
    example = load_config_text((ROOT / "examples" / "config.yaml").read_text())
    (trigger,) = example.pool("gpu").triggers
    assert (trigger.name, trigger.threshold, trigger.duration, trigger.past) == (
        "gpu-queue", 0.0, 120.0, "above")
    assert example.prometheus.url == "http://prometheus.monitoring:9090"
    text = (ROOT / "daemonset" / "config" / "config.yaml").read_text()
    uncommented = (text.replace("    # triggers:", "    triggers:")
                   .replace("    #   - {name: gpu-queue", "      - {name: gpu-queue")
                   .replace("    #      threshold: 0", "         threshold: 0")
                   .replace("# prometheus: {url", "prometheus: {url"))
    configmap = load_config_text(uncommented)
    assert configmap.pool("gpu").triggers == example.pool("gpu").triggers
    assert configmap.prometheus == example.prometheus
