"""Plan: one pure pass over a Snapshot → actions, decision records, new memory, and
when to look again.

Per pool: derive the signal to decide on (``signals``), estimate the need
(``estimate``), keep the machines that may act (``eligibility``), rank them
(``scoring``), and pick within the pool's batch, rate limits and bounds. Machines
that overstayed their join timeout are aborted first, so the same pass can choose
the next candidate.

A decision can change with no event when a timer runs out, so the plan also says
when that is (``wake_at``): each module that applies a timer reports its deadline
beside the rule, and the caller sleeps until the earliest. One owner per timer,
so a new time-based rule cannot be slept through.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from controller.config import RESOURCES, AutoscalerConfig, PoolSpec
from controller.planning import eligibility, signals
from controller.planning.estimate import (
    PoolTotals,
    horizon_of,
    pool_totals,
    situation_of,
    thresholds_of,
    weights_of,
)
from controller.planning.signals import JOIN_SETTLE
from controller.planning.snapshot import (
    Action,
    ActionKind,
    DecisionRecord,
    MachineState,
    MachineView,
    PoolMemory,
    PoolSignal,
    Snapshot,
    zeros,
)
from scoring import Candidates, Decision, Direction, ScoringRequest, Situation, score

LATE_MARGIN = 0.001
"""A boot is late once ``now - since`` is strictly past its join timeout: the deadline
is reported a millisecond after, the first instant a pass finds it late."""


@dataclass(frozen=True)
class PlanResult:
    actions: tuple[Action, ...]
    records: tuple[DecisionRecord, ...]
    memory: dict[str, PoolMemory]
    wake_at: float = math.inf
    """When to plan again if nothing happens (clock seconds; inf: only on an event):
    the earliest future instant a timer changes an answer for a planned pool."""
    wakes: dict[str, float] = field(default_factory=dict)
    """``wake_at`` per planned pool: a pass over some pools must not make the caller
    forget the others' deadlines."""


@dataclass(frozen=True)
class _Pool:
    """Everything one pool's decision reads in a pass."""

    spec: PoolSpec
    machines: list[MachineView]
    signal: PoolSignal
    totals: PoolTotals
    now: float


@dataclass
class _PoolPlan:
    actions: list[Action]
    record: DecisionRecord
    memory: PoolMemory


class Planner:
    """Turns snapshots into plans under one configuration (arrays derived once)."""

    def __init__(self, config: AutoscalerConfig, *, join_settle: float = JOIN_SETTLE) -> None:
        """join_settle: seconds after a join during which pending requests are set aside
        (``signals``); 0 for a world whose scheduler places pods the instant a machine
        is Ready."""
        self.config = config
        self.thresholds = thresholds_of(config)
        self.weights = weights_of(config)
        self.join_settle = join_settle

    def plan(self, snapshot: Snapshot) -> PlanResult:
        """Decide every pool of the snapshot; never reads a clock or does I/O."""
        aborts, machines = _abort_late_boots(snapshot.machines, snapshot.now)
        actions: list[Action] = list(aborts)
        records: list[DecisionRecord] = []
        memory = dict(snapshot.memory)
        by_pool = _by_pool(machines)
        pools = self._planned(snapshot)
        for pool in pools:
            members = by_pool.get(pool.name, [])
            signal = snapshot.signals.get(pool.name) or _quiet_signal()
            outcome = self._plan_pool(pool, members, signal,
                                      memory.get(pool.name, PoolMemory()), snapshot.now)
            actions.extend(outcome.actions)
            records.append(outcome.record)
            memory[pool.name] = outcome.memory
        after = _started(snapshot.machines, actions, snapshot.now)
        wakes = self._wakes(pools, after, memory, snapshot.now)
        return PlanResult(tuple(actions), tuple(records), memory,
                          wake_at=min(wakes.values(), default=math.inf), wakes=wakes)

    def wake_at(self, snapshot: Snapshot) -> dict[str, float]:
        """Each pool's wake time from the snapshot as it stands, nothing decided: for a
        pool the caller has not planned yet."""
        return self._wakes(self._planned(snapshot), snapshot.machines, snapshot.memory,
                           snapshot.now)

    def _planned(self, snapshot: Snapshot) -> list[PoolSpec]:
        return [pool for pool in self.config.pools
                if snapshot.pools is None or pool.name in snapshot.pools]

    def _wakes(self, pools: list[PoolSpec], machines: Iterable[MachineView],
               memory: dict[str, PoolMemory], now: float) -> dict[str, float]:
        """Per pool, the earliest future deadline of any timer a rule applies."""
        by_pool = _by_pool(machines)
        wakes = {}
        for pool in pools:
            members = by_pool.get(pool.name, [])
            remembered = memory.get(pool.name, PoolMemory())
            deadlines = (*_window_ends(pool, remembered), *_late_at(members),
                         *eligibility.wake_times(pool, members, remembered),
                         *signals.wake_times(members, settle=self.join_settle))
            wakes[pool.name] = min((d for d in deadlines if d > now), default=math.inf)
        return wakes

    def _plan_pool(self, spec: PoolSpec, machines: list[MachineView], raw: PoolSignal,
                   memory: PoolMemory, now: float) -> _PoolPlan:
        signal = signals.effective(raw, machines, target=self.thresholds.target_level,
                                   settle=self.join_settle, now=now)
        pool = _Pool(spec, machines, signal, pool_totals(machines), now)
        if pool.totals.active_count < spec.limits.min_nodes:
            situation = Situation(Direction.POWER_ON, zeros(len(RESOURCES)),
                                  np.zeros(len(RESOURCES), dtype=bool),
                                  f"below minNodes ({spec.limits.min_nodes})")
            return self._scale_up(pool, situation, _remember(memory, situation, now))
        situation = situation_of(signal, pool.totals, self.thresholds, horizon_of(machines))
        memory = _remember(memory, situation, now)
        if situation.direction is Direction.POWER_ON:
            waited = now - _since(memory.wants_up_since, now)
            window = spec.scale_up.stabilization_window
            if signal.pending_pods == 0 and waited < window:
                return self._hold(pool, situation, memory,
                                  f"{situation.reason}; stabilizing {waited:.0f}s of {window:g}s")
            return self._scale_up(pool, situation, memory)
        if situation.direction is Direction.POWER_OFF:
            waited = now - _since(memory.wants_down_since, now)
            needed = spec.scale_down.unneeded_time
            if signal.pending_pods:
                # Pods waiting for room (even ones no machine here could take) are
                # not surplus: a node powered off now would be wanted back at once.
                return self._hold(pool, situation, memory,
                                  f"{situation.reason}; {signal.pending_pods} pod(s) pending")
            if waited < needed:
                return self._hold(pool, situation, memory,
                                  f"{situation.reason}; unneeded {waited:.0f}s of {needed:g}s")
            return self._scale_down(pool, situation, memory)
        return self._hold(pool, situation, memory, situation.reason)

    def _scale_up(self, pool: _Pool, situation: Situation, memory: PoolMemory) -> _PoolPlan:
        eligible = eligibility.power_on_candidates(pool.spec, pool.machines, pool.totals,
                                                   memory, pool.now)
        if eligible.blocked or not eligible.machines:
            reason = eligible.blocked or "no machine can be powered on"
            return self._hold(pool, situation, memory, f"{situation.reason}; {reason}",
                              excluded=eligible.excluded)
        chosen, decisions = self._pick_up(pool, eligible.machines, situation, memory)
        actions = [Action(ActionKind.POWER_ON, m.name, pool.spec.name, situation.reason)
                   for m in chosen]
        if actions:
            memory = dataclasses.replace(
                memory, power_ons=(*memory.power_ons, *([pool.now] * len(actions))),
                last_scale_up=pool.now)
        record = self._record(pool, situation, situation.reason,
                              chosen=tuple(m.name for m in chosen),
                              excluded=eligible.excluded, scores=tuple(decisions))
        return _PoolPlan(actions, record, memory)

    def _pick_up(self, pool: _Pool, candidates: list[MachineView], situation: Situation,
                 memory: PoolMemory) -> tuple[list[MachineView], list[Decision]]:
        spec = pool.spec
        budget = min(spec.scale_up.batch,
                     spec.scale_up.max_per_minute - eligibility.recent(memory.power_ons, pool.now))
        if spec.limits.max_nodes:
            budget = min(budget, spec.limits.max_nodes - pool.totals.active_count)
        demand, active = situation.demand.copy(), pool.totals.active_capacity.copy()
        chosen: list[MachineView] = []
        decisions: list[Decision] = []
        while len(chosen) < budget and candidates:
            decision = self._score(Direction.POWER_ON, demand, situation.useful, candidates,
                                   pool.now)
            decisions.append(decision)
            winner = next(m for m in candidates if m.name == decision.winner)
            chosen.append(winner)
            demand = np.maximum(demand - winner.capacity, 0.0)
            active = active + winner.capacity
            if not (demand[situation.useful] > 0).any():
                break
            candidates = [m for m in candidates if m is not winner and
                          not eligibility.exceeds_ceiling(m, spec, active)]
        return chosen, decisions

    def _scale_down(self, pool: _Pool, situation: Situation, memory: PoolMemory) -> _PoolPlan:
        eligible = eligibility.power_off_candidates(
            pool.spec, pool.machines, pool.totals, memory,
            levels=pool.signal.levels, high=self.thresholds.level_high,
            exponent=self.thresholds.exponent, now=pool.now)
        if eligible.blocked or not eligible.machines:
            reason = eligible.blocked or "no machine can be powered off"
            return self._hold(pool, situation, memory, f"{situation.reason}; {reason}",
                              excluded=eligible.excluded)
        decision = self._score(Direction.POWER_OFF, situation.demand, situation.useful,
                               eligible.machines, pool.now)
        assert decision.winner is not None  # candidates were not empty
        # The unneeded timer keeps running while pressure stays low: the rate limit and
        # maxConcurrent pace the rest, so a morning's surplus returns in minutes, not days.
        memory = dataclasses.replace(memory, power_offs=(*memory.power_offs, pool.now))
        action = Action(ActionKind.POWER_OFF, decision.winner, pool.spec.name, situation.reason)
        record = self._record(pool, situation, situation.reason, chosen=(decision.winner,),
                              excluded=eligible.excluded, scores=(decision,))
        return _PoolPlan([action], record, memory)

    def _score(self, direction: Direction, demand: np.ndarray, useful: np.ndarray,
               machines: list[MachineView], now: float) -> Decision:
        candidates = Candidates.build(
            [m.name for m in machines], np.array([m.capacity for m in machines]),
            watts=[m.idle_watts for m in machines],
            boot_seconds=[m.boot_seconds for m in machines],
            failures=[m.failures for m in machines],
            state_seconds=[now - m.since for m in machines])
        return score(ScoringRequest(direction, RESOURCES, demand, useful, candidates, self.weights))

    def _hold(self, pool: _Pool, situation: Situation, memory: PoolMemory, reason: str,
              excluded: dict[str, str] | None = None) -> _PoolPlan:
        record = self._record(pool, situation, reason, chosen=(), excluded=excluded or {},
                              scores=())
        return _PoolPlan([], record, memory)

    @staticmethod
    def _record(pool: _Pool, situation: Situation, reason: str, *, chosen: tuple[str, ...],
                excluded: dict[str, str], scores: tuple[Decision, ...]) -> DecisionRecord:
        return DecisionRecord(
            at=pool.now, pool=pool.spec.name,
            direction=situation.direction if chosen else None, reason=reason,
            levels=_named(pool.signal.levels), rates=_named(pool.signal.rates),
            demand=_named(situation.demand), chosen=chosen, excluded=excluded, scores=scores)


def _window_ends(pool: PoolSpec, memory: PoolMemory) -> Iterator[float]:
    """When the stabilization window or the unneeded time that ``_plan_pool`` waits
    out ends."""
    if memory.wants_up_since is not None:
        yield memory.wants_up_since + pool.scale_up.stabilization_window
    if memory.wants_down_since is not None:
        yield memory.wants_down_since + pool.scale_down.unneeded_time


def _late_at(machines: list[MachineView]) -> Iterator[float]:
    """When each boot in flight becomes late, for ``_abort_late_boots``."""
    for machine in machines:
        if machine.state.in_flight_up:
            yield machine.since + eligibility.join_timeout(machine) + LATE_MARGIN


def _abort_late_boots(machines: tuple[MachineView, ...],
                      now: float) -> tuple[list[Action], list[MachineView]]:
    """Abort machines past their join timeout; show them as failed for this pass."""
    actions, views = [], []
    for machine in machines:
        late = machine.state.in_flight_up and \
            now - machine.since > eligibility.join_timeout(machine)
        if not late:
            views.append(machine)
            continue
        actions.append(Action(ActionKind.ABORT_BOOT, machine.name, machine.pool,
                              f"not Ready {now - machine.since:.0f}s after power-on"))
        failures = machine.failures + 1
        views.append(dataclasses.replace(
            machine, state=MachineState.ERROR, since=now, failures=failures,
            backoff_until=now + eligibility.backoff_seconds(failures)))
    return actions, views


def _started(machines: tuple[MachineView, ...], actions: list[Action],
             now: float) -> list[MachineView]:
    """The machines as the next snapshot will show them, once this pass's actions start:
    their deadlines are the ones to wake for."""
    kinds = {action.machine: action.kind for action in actions}
    if not kinds:
        return list(machines)
    return [machine.starting(kinds[machine.name], now) if machine.name in kinds else machine
            for machine in machines]


def _by_pool(machines: Iterable[MachineView]) -> dict[str, list[MachineView]]:
    by_pool: dict[str, list[MachineView]] = {}
    for machine in machines:
        by_pool.setdefault(machine.pool, []).append(machine)
    return by_pool


def _remember(memory: PoolMemory, situation: Situation, now: float) -> PoolMemory:
    up = situation.direction is Direction.POWER_ON
    down = situation.direction is Direction.POWER_OFF
    return dataclasses.replace(
        memory,
        wants_up_since=_since(memory.wants_up_since, now) if up else None,
        wants_down_since=_since(memory.wants_down_since, now) if down else None,
        power_ons=tuple(t for t in memory.power_ons if now - t < eligibility.MINUTE),
        power_offs=tuple(t for t in memory.power_offs if now - t < eligibility.MINUTE),
    )


def _since(started: float | None, now: float) -> float:
    return now if started is None else started


def _quiet_signal() -> PoolSignal:
    return PoolSignal(zeros(len(RESOURCES)), zeros(len(RESOURCES)), zeros(len(RESOURCES)))


def _named(values: np.ndarray) -> dict[str, float]:
    return {r: float(v) for r, v in zip(RESOURCES, values, strict=True)}
