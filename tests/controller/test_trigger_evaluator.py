"""The trigger evaluator on a fake clock and a fake Prometheus: the state machine
(ok → pending → firing after the duration; an error restarts it), and what people see:
gauges every evaluation, a log line and a reactor wake per change, an Event per change
that matters, never per evaluation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from controller.config import AutoscalerConfig, load_config_text
from controller.config.loading import dump_yaml
from controller.evaluator import TriggerEvaluator, TriggerTracker
from controller.metrics import ControllerMetrics
from controller.planning.triggers import TriggerState
from controller.prometheus import PrometheusError

OK, PENDING, FIRING, ERROR = (TriggerState.OK, TriggerState.PENDING, TriggerState.FIRING,
                              TriggerState.ERROR)


def configured(*, duration: str = "60s", threshold: float = 10.0,
               direction: str = "up") -> AutoscalerConfig:
    trigger = {"name": "queue", "metricQuery": "sum(queue_length)", "threshold": threshold,
               "duration": duration, "scaleDirection": direction}
    return load_config_text(dump_yaml({
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "prometheus": {"url": "http://127.0.0.1:9", "interval": "15s"},
        "pools": [{"name": "general", "triggers": [trigger]}]}))


def test_past_the_threshold_for_the_duration_fires_and_an_error_restarts_it() -> None:
    tracker = TriggerTracker(configured().pools[0].triggers[0])
    assert tracker.observe(5.0, 0.0).state is OK
    assert tracker.observe(11.0, 15.0).state is PENDING
    assert tracker.observe(12.0, 60.0).state is PENDING  # 45 s past it
    fired = tracker.observe(13.0, 75.0)
    assert (fired.state, fired.past_since, fired.value) == (FIRING, 15.0, 13.0)
    assert tracker.observe(10.0, 90.0).state is OK  # at the threshold is not past it
    assert tracker.observe(11.0, 105.0).state is PENDING
    nan = PrometheusError("the value is NaN", kind="not-a-number", retriable=True)
    failed = tracker.observe(None, 120.0, error=nan)
    assert (failed.state, failed.value, failed.error) == (ERROR, None, "the value is NaN")
    assert tracker.observe(11.0, 135.0).past_since == 135.0  # the duration starts again
    assert tracker.observe(11.0, 195.0).state is FIRING


def test_a_down_trigger_is_past_below_its_threshold_by_default() -> None:
    tracker = TriggerTracker(configured(direction="down", duration="0s").pools[0].triggers[0])
    assert tracker.observe(11.0, 0.0).state is OK
    assert tracker.observe(9.0, 1.0).state is FIRING


class FakePrometheus:
    """Answers from a list, one per query; an exception is raised as Prometheus's."""

    def __init__(self, answers: list[float | PrometheusError]) -> None:
        self.answers: Iterator[float | PrometheusError] = iter(answers)
        self.closed = 0

    async def value(self, query: str) -> float:
        answer = next(self.answers)
        if isinstance(answer, PrometheusError):
            raise answer
        return answer

    def close(self) -> None:
        self.closed += 1


async def test_changes_are_announced_once_evaluations_every_time(
        caplog: pytest.LogCaptureFixture) -> None:
    nan = PrometheusError("the value is NaN", kind="not-a-number", retriable=True)
    fake = FakePrometheus([5.0, 12.0, 12.0, 12.0, nan, nan, nan, 4.0])
    now = [0.0]
    wakes: list[tuple[str, str]] = []
    events: list[tuple[str, str, bool]] = []

    async def event(pool: str, reason: str, message: str, warning: bool) -> None:
        events.append((pool, reason, warning))

    metrics = ControllerMetrics()
    evaluator = TriggerEvaluator(configured(), metrics=metrics, clock=lambda: now[0],
                                 wake=lambda pool, why: wakes.append((pool, why)), event=event,
                                 connect=lambda settings: fake)
    states = []
    with caplog.at_level(logging.INFO, logger="controller.evaluator"):
        for _ in range(8):
            await evaluator.evaluate_once()
            states.append(evaluator.facts()["general"][0].state)
            now[0] += 30.0
    assert states == [OK, PENDING, PENDING, FIRING, ERROR, ERROR, ERROR, OK]
    assert wakes == [("general", "trigger queue pending"), ("general", "trigger queue firing"),
                     ("general", "trigger queue error"), ("general", "trigger queue ok")]
    assert events == [("general", "TriggerFiring", False), ("general", "TriggerError", True),
                      ("general", "TriggerCleared", False)]
    lines = [r for r in caplog.records if r.name == "controller.evaluator"]
    assert len(lines) == 4  # one per change, none for the evaluations in between
    assert lines[2].levelno == logging.WARNING
    assert lines[2].getMessage() == ("pool general: trigger queue (up): error: the value is "
                                     "NaN; no action from it; asked again every 15s")
    sample = metrics.registry.get_sample_value
    assert sample("bamel_controller_trigger_errors_total",
                  {"pool": "general", "trigger": "queue", "kind": "not-a-number"}) == 3
    assert sample("bamel_controller_trigger_state",
                  {"pool": "general", "trigger": "queue", "state": "ok"}) == 1
    assert sample("bamel_controller_trigger_state",
                  {"pool": "general", "trigger": "queue", "state": "error"}) == 0
    assert sample("bamel_controller_trigger_value", {"pool": "general", "trigger": "queue"}) == 4


async def test_a_reload_keeps_an_unchanged_triggers_state_and_forgets_a_changed_one() -> None:
    fake = FakePrometheus([12.0, 12.0])
    now = [0.0]
    evaluator = TriggerEvaluator(configured(), metrics=ControllerMetrics(),
                                 clock=lambda: now[0], wake=lambda pool, why: None,
                                 connect=lambda settings: fake)
    await evaluator.evaluate_once()
    assert evaluator.facts()["general"][0].state is PENDING
    evaluator.reconfigure(configured())
    assert evaluator.facts()["general"][0].past_since == 0.0
    assert fake.closed == 0  # the same Prometheus: the same connection
    evaluator.reconfigure(configured(threshold=20.0))
    assert evaluator.facts()["general"][0].state is OK
    without = load_config_text(dump_yaml({"apiVersion": "bamel.io/v1alpha1",
                                          "kind": "AutoscalerConfig",
                                          "pools": [{"name": "general"}]}))
    evaluator.reconfigure(without)
    assert evaluator.facts() == {}
    assert fake.closed == 1


async def test_a_query_prometheus_cannot_parse_is_not_asked_again_until_it_changes(
        caplog: pytest.LogCaptureFixture) -> None:
    refused = PrometheusError("HTTP 400: parse error", kind="refused", retriable=False)
    fake = FakePrometheus([refused, 12.0])
    evaluator = TriggerEvaluator(configured(), metrics=ControllerMetrics(), clock=lambda: 0.0,
                                 wake=lambda pool, why: None, connect=lambda settings: fake)
    with caplog.at_level(logging.INFO, logger="controller.evaluator"):
        for _ in range(3):
            await evaluator.evaluate_once()
    assert evaluator.facts()["general"][0].state is ERROR
    assert [r.getMessage() for r in caplog.records] == [
        "pool general: trigger queue (up): error: HTTP 400: parse error; no action from it; "
        "not asked again until its settings change"]
    evaluator.reconfigure(configured(threshold=5.0))  # a person changed it
    await evaluator.evaluate_once()
    fact = evaluator.facts()["general"][0]
    assert (fact.state, fact.value) == (PENDING, 12.0)
