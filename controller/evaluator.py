"""Evaluating the pools' PromQL triggers every interval, and saying when one changes.

Each trigger (``pools[].triggers``) is a query whose value past its threshold for its
duration asks its pool for a step (``controller.planning.triggers`` owns what the
step is). This component owns the other half: asking Prometheus
(``controller.prometheus``) every ``prometheus.interval``, and keeping per trigger
the last value, since when it has been past the threshold and its state (ok,
pending, firing, error). The planner reads the states as facts in its snapshot.

The duration is timed here, not in the planner: "past the threshold continuously"
can only be judged at evaluations, so a trigger turns firing at the first
evaluation at least ``duration`` after the one that found it past, and the reactor
is woken for its pool at each change of state. An evaluation that gives no value
(Prometheus unreachable, a query it refuses, no series, several, NaN) puts the
trigger in ``error`` and restarts the duration: unknown is not "still past it", and
an error never asks for a step. An error that cannot pass on its own (its
``retriable`` is False: Prometheus cannot parse the query) stops the trigger's
queries until its settings change: asking again would only repeat the refusal.

People see it without reading every evaluation: the state and value gauges and an
error counter each evaluation, but a log line and an Event on the NodePool only
when the state (or the kind of error) changes. Moving between ok and pending is
logged, not an Event: a value near its threshold would otherwise fill
``kubectl describe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import Gauge

from controller.config import AutoscalerConfig, PrometheusSpec, TriggerSpec
from controller.metrics import ControllerMetrics
from controller.planning.triggers import TriggerFact, TriggerState
from controller.prometheus import PrometheusError, PrometheusQueries

log = logging.getLogger(__name__)

QUIET = (TriggerState.OK, TriggerState.PENDING)
"""States between which a change gets a log line but no Event."""


class Queries(Protocol):
    """What the evaluator needs of Prometheus (``PrometheusQueries``; a fake in tests)."""

    async def value(self, query: str) -> float: ...

    def close(self) -> None: ...


PoolEvent = Callable[[str, str, str, bool], Awaitable[None]]
"""(pool, reason, message, warning): an Event on the pool's NodePool."""
Wake = Callable[[str, str], None]
"""(pool, reason): ask the reactor to plan the pool."""


class TriggerTracker:
    """One trigger's state machine over its evaluations (times on the caller's clock)."""

    def __init__(self, spec: TriggerSpec) -> None:
        self.spec = spec
        self.fact = TriggerFact(spec.name, spec.scale_direction, TriggerState.OK, None,
                                spec.threshold, spec.past, spec.duration)
        self.error_kind = ""
        self.permanent = False
        """The last error cannot pass on its own: the query is not asked again."""

    def observe(self, value: float | None, now: float, *,
                error: PrometheusError | None = None) -> TriggerFact:
        """The trigger after one evaluation: a value, or the error that left none."""
        spec = self.spec
        if error is not None or value is None:
            self.error_kind = error.kind if error is not None else "empty"
            self.permanent = error is not None and not error.retriable
            reason = str(error) if error is not None else "no value"
            self.fact = self._fact(TriggerState.ERROR, None, None, reason)
            return self.fact
        self.error_kind = ""
        past = value > spec.threshold if spec.past == "above" else value < spec.threshold
        if not past:
            self.fact = self._fact(TriggerState.OK, value, None)
            return self.fact
        since = self.fact.past_since if self.fact.past_since is not None else now
        state = TriggerState.FIRING if now - since >= spec.duration else TriggerState.PENDING
        self.fact = self._fact(state, value, since)
        return self.fact

    def _fact(self, state: TriggerState, value: float | None, since: float | None,
              error: str = "") -> TriggerFact:
        spec = self.spec
        return TriggerFact(spec.name, spec.scale_direction, state, value, spec.threshold,
                           spec.past, spec.duration, past_since=since, error=error)


class TriggerEvaluator:
    """Evaluates every pool's triggers each interval; ``facts()`` for the snapshot."""

    def __init__(self, config: AutoscalerConfig, *, metrics: ControllerMetrics, wake: Wake,
                 event: PoolEvent | None = None, clock: Callable[[], float] = time.time,
                 connect: Callable[[PrometheusSpec], Queries] | None = None) -> None:
        """clock: the reactor's clock (facts carry its times); connect: how a Prometheus
        is reached (``PrometheusQueries`` unless a test gives another)."""
        self.metrics = metrics
        self._wake = wake
        self._event = event
        self.clock = clock
        self._connect = connect or _connect
        self._trackers: dict[tuple[str, str], TriggerTracker] = {}
        self._queries: Queries | None = None
        self._endpoint: PrometheusSpec | None = None
        self._changed = asyncio.Event()
        self.reconfigure(config)

    def reconfigure(self, config: AutoscalerConfig) -> None:
        """New triggers start in ok; a trigger whose spec is unchanged keeps its state."""
        self.settings = config.prometheus
        wanted = {(pool.name, trigger.name): trigger
                  for pool in config.pools for trigger in pool.triggers}
        for key in list(self._trackers):
            if wanted.get(key) != self._trackers[key].spec:
                self._forget(key)
        for key, spec in wanted.items():
            self._trackers.setdefault(key, TriggerTracker(spec))
        endpoint = config.prometheus if wanted and config.prometheus.url else None
        if endpoint != self._endpoint:
            self.close()
            self._endpoint = endpoint
            self._queries = self._connect(endpoint) if endpoint is not None else None
        self._changed.set()

    def facts(self) -> dict[str, tuple[TriggerFact, ...]]:
        """Pool → its triggers' states (only pools that have triggers)."""
        by_pool: dict[str, list[TriggerFact]] = {}
        for (pool, _), tracker in self._trackers.items():
            by_pool.setdefault(pool, []).append(tracker.fact)
        return {pool: tuple(facts) for pool, facts in by_pool.items()}

    async def run(self) -> None:
        """Evaluate every interval while triggers are configured, until cancelled."""
        while True:
            self._changed.clear()
            if not self._trackers or self._queries is None:
                await self._changed.wait()
                continue
            started = self.clock()
            await self.evaluate_once()
            pause = self.settings.interval - (self.clock() - started)
            if pause > 0:
                try:
                    async with asyncio.timeout(pause):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    async def evaluate_once(self) -> None:
        """Ask every trigger's query at once; record, show and announce each result."""
        queries = self._queries
        if queries is None or not self._trackers:
            return
        keys = [key for key, tracker in self._trackers.items() if not tracker.permanent]
        answers = await asyncio.gather(
            *(queries.value(self._trackers[key].spec.metric_query) for key in keys),
            return_exceptions=True)
        now = self.clock()
        for key, answer in zip(keys, answers, strict=True):
            tracker = self._trackers.get(key)
            if tracker is None:  # reconfigured while the queries ran
                continue
            if isinstance(answer, BaseException) and not isinstance(answer, PrometheusError):
                raise answer
            await self._observed(key[0], tracker, answer, now)

    async def _observed(self, pool: str, tracker: TriggerTracker,
                        answer: float | PrometheusError, now: float) -> None:
        before, before_kind = tracker.fact.state, tracker.error_kind
        if isinstance(answer, PrometheusError):
            fact = tracker.observe(None, now, error=answer)
            self.metrics.trigger_errors.labels(pool, fact.name, answer.kind).inc()
        else:
            fact = tracker.observe(answer, now)
        self._gauges(pool, fact)
        if fact.state is before and tracker.error_kind == before_kind:
            return
        said = f"pool {pool}: {fact.describe(now)}"
        if fact.state is TriggerState.ERROR:
            then = ("not asked again until its settings change" if tracker.permanent
                    else f"asked again every {self.settings.interval:g}s")
            log.warning("%s; no action from it; %s", said, then)
        else:
            log.info("%s (was %s)", said, before.value)
        self._wake(pool, f"trigger {fact.name} {fact.state.value}")
        if self._event is not None and not (fact.state in QUIET and before in QUIET):
            reason = {TriggerState.FIRING: "TriggerFiring",
                      TriggerState.ERROR: "TriggerError"}.get(fact.state, "TriggerCleared")
            await self._event(pool, reason, fact.describe(now),
                              fact.state is TriggerState.ERROR)

    def _gauges(self, pool: str, fact: TriggerFact) -> None:
        for state in TriggerState:
            self.metrics.trigger_state.labels(pool, fact.name, state.value).set(
                1.0 if state is fact.state else 0.0)
        self.metrics.trigger_value.labels(pool, fact.name).set(
            math.nan if fact.value is None else fact.value)

    def _forget(self, key: tuple[str, str]) -> None:
        """A trigger removed or changed: its series go with it."""
        del self._trackers[key]
        for state in TriggerState:
            _remove(self.metrics.trigger_state, *key, state.value)
        _remove(self.metrics.trigger_value, *key)

    def close(self) -> None:
        """Release the Prometheus connection; safe twice."""
        if self._queries is not None:
            self._queries.close()
            self._queries = None
        self._endpoint = None


def _connect(settings: PrometheusSpec) -> Queries:
    assert settings.url is not None
    return PrometheusQueries(settings.url, timeout=settings.timeout)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never set: the trigger was never evaluated
        gauge.remove(*labels)
