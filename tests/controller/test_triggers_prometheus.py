"""PromQL triggers against the real Prometheus (Debian's 2.42), scraping a target this
test serves on loopback with values it changes while the test runs.

Above its threshold for its duration, a trigger fires and its pool asks for one more
machine; NaN, no series, a query Prometheus refuses and a Prometheus that is not there
each put the trigger in error, visible in the metrics and in one Event, and never
cause an action.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import pytest

from controller.config import AutoscalerConfig, load_config_text
from controller.config.loading import dump_yaml
from controller.evaluator import TriggerEvaluator
from controller.metrics import ControllerMetrics
from controller.planning import ActionKind, MachineState, Planner, PlanResult, Snapshot
from controller.planning.triggers import TriggerState
from controller.prometheus import PrometheusError, PrometheusQueries
from lab.peers.process import LOOPBACK, free_port
from tests.controller.scrape import Target, seen, served
from tests.planning.builders import config as planner_config
from tests.planning.builders import machine, signal
from tests.ship.observed import Prometheus, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with served() as scraped:
        yield scraped


@pytest.fixture(scope="module")
def prometheus(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"),
                        {"queue": (target.port, {})})
    try:
        assert asyncio.run(until(server.ready, within=30))
        yield server
    finally:
        server.stop()


def configured(url: str, query: str = "sum(jobs_waiting)") -> AutoscalerConfig:
    trigger = {"name": "queue", "metricQuery": query, "threshold": 10, "duration": "2s",
               "scaleDirection": "up"}
    return load_config_text(dump_yaml({
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "prometheus": {"url": url, "interval": "1s", "timeout": "0.5s"},
        "pools": [{"name": "general", "triggers": [trigger]}]}))


class Seen:
    """The evaluator's Events and wakes, as the service would write and act on them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, bool]] = []

    async def event(self, pool: str, reason: str, message: str, warning: bool) -> None:
        self.events.append((pool, reason, message, warning))


def evaluator_for(cfg: AutoscalerConfig, seen_: Seen,
                  metrics: ControllerMetrics) -> TriggerEvaluator:
    return TriggerEvaluator(cfg, metrics=metrics, wake=lambda pool, why: None,
                            event=seen_.event, clock=time.time)


async def evaluator_at(prometheus: Prometheus, target: Target, value: str, seen_: Seen,
                       metrics: ControllerMetrics) -> TriggerEvaluator:
    """An evaluator of the trigger, once Prometheus has scraped value from the target."""
    target.value = value
    assert await until(lambda: seen(prometheus, value), within=30)
    return evaluator_for(configured(prometheus.url), seen_, metrics)


def planned(evaluator: TriggerEvaluator) -> PlanResult:
    """One pass over a pool of one Ready machine and two off, at steady pressure."""
    cfg = planner_config(machines={"a": "small", "b": "small", "c": "cpu-heavy"})
    machines = (machine("a", "small", MachineState.READY), machine("b", "small"),
                machine("c", "cpu-heavy"))
    return Planner(cfg).plan(Snapshot(now=time.time(), config=cfg, machines=machines,
                                      signals={"general": signal(cpu=0.4, memory=0.4)},
                                      triggers=evaluator.facts()))


async def evaluate_until(evaluator: TriggerEvaluator, state: TriggerState, *,
                         within: float) -> bool:
    async def reached() -> bool:
        await evaluator.evaluate_once()
        return evaluator.facts()["general"][0].state is state
    return await until(reached, within=within, every=0.5)


async def test_above_the_threshold_for_the_duration_asks_for_one_more_machine(
        prometheus: Prometheus, target: Target) -> None:
    seen_, metrics = Seen(), ControllerMetrics()
    evaluator = await evaluator_at(prometheus, target, "3", seen_, metrics)
    try:
        await evaluator.evaluate_once()
        assert evaluator.facts()["general"][0].state is TriggerState.OK
        assert planned(evaluator).actions == ()
        target.value = "15"
        assert await evaluate_until(evaluator, TriggerState.PENDING, within=30)
        assert planned(evaluator).actions == ()  # past it, not yet for 2 s
        assert await evaluate_until(evaluator, TriggerState.FIRING, within=10)
        result = planned(evaluator)
        assert [(a.kind, a.machine) for a in result.actions] == [(ActionKind.POWER_ON, "b")]
        assert result.records[0].reason.startswith("trigger queue (up): 15 above 10 for ")
        assert [(e[1], e[3]) for e in seen_.events] == [("TriggerFiring", False)]
        assert metrics.registry.get_sample_value(
            "bamel_controller_trigger_value", {"pool": "general", "trigger": "queue"}) == 15
    finally:
        evaluator.close()


async def test_nan_is_an_error_with_one_event_and_no_action(
        prometheus: Prometheus, target: Target) -> None:
    seen_, metrics = Seen(), ControllerMetrics()
    evaluator = await evaluator_at(prometheus, target, "15", seen_, metrics)
    try:
        target.value = "NaN"
        assert await until(lambda: seen(prometheus, "NaN"), within=30)
        for _ in range(3):
            await evaluator.evaluate_once()
            await asyncio.sleep(0.2)
        fact = evaluator.facts()["general"][0]
        assert (fact.state, fact.error) == (TriggerState.ERROR, "the value is NaN")
        assert planned(evaluator).actions == ()
        assert [(e[1], e[2], e[3]) for e in seen_.events] == [
            ("TriggerError", "trigger queue (up): error: the value is NaN", True)]
        labels = {"pool": "general", "trigger": "queue"}
        sample = metrics.registry.get_sample_value
        assert sample("bamel_controller_trigger_state", {**labels, "state": "error"}) == 1
        assert math.isnan(sample("bamel_controller_trigger_value", labels) or 0.0)
        assert sample("bamel_controller_trigger_errors_total",
                      {**labels, "kind": "not-a-number"}) == 3
    finally:
        evaluator.close()
        target.value = "3"


async def test_no_series_a_refused_query_and_no_prometheus_give_no_value(
        prometheus: Prometheus, target: Target) -> None:
    assert await until(lambda: seen(prometheus, target.value), within=30)
    queries = PrometheusQueries(prometheus.url, timeout=2.0)
    try:
        with pytest.raises(PrometheusError) as empty:
            await queries.value("sum(jobs_nobody_exports) > 0 or vector(1) > 2")
        assert (empty.value.kind, empty.value.retriable) == ("empty", True)
        with pytest.raises(PrometheusError) as refused:
            await queries.value("sum(jobs_waiting")
        assert (refused.value.kind, refused.value.retriable) == ("refused", False)
        assert str(refused.value).startswith("HTTP 400: ")
        assert "unclosed left parenthesis" in str(refused.value)
        with pytest.raises(PrometheusError) as several:
            await queries.value('label_replace(jobs_waiting, "x", "1", "", "") '
                                'or label_replace(jobs_waiting, "x", "2", "", "")')
        assert several.value.kind == "series"
        assert await queries.value("scalar(sum(jobs_waiting))") == float(target.value)
    finally:
        queries.close()
    nowhere = PrometheusQueries(f"http://{LOOPBACK}:{free_port()}", timeout=2.0)
    try:
        with pytest.raises(PrometheusError) as unreachable:
            await nowhere.value("sum(jobs_waiting)")
        assert (unreachable.value.kind, unreachable.value.retriable) == ("unreachable", True)
    finally:
        nowhere.close()
    seen_, metrics = Seen(), ControllerMetrics()
    evaluator = evaluator_for(configured(prometheus.url, "sum(jobs_waiting"), seen_, metrics)
    try:
        for _ in range(2):
            await evaluator.evaluate_once()
        assert evaluator.facts()["general"][0].state is TriggerState.ERROR
        assert planned(evaluator).actions == ()
        assert [e[1] for e in seen_.events] == ["TriggerError"]
    finally:
        evaluator.close()
