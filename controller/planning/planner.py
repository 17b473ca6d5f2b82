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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from controller.config import RESOURCES, AutoscalerConfig, PoolSpec
from controller.planning import (
    eligibility,
    forecast,
    recycling,
    schedules,
    signals,
    sizing,
    triggers,
    warm,
)
from controller.planning.constraints import SchedulingView, first_spared, pods_up
from controller.planning.estimate import (
    PoolTotals,
    horizon_of,
    pool_totals,
    situation_of,
    thresholds_of,
    weights_of,
)
from controller.planning.forecast import Outlook
from controller.planning.pods import Pod
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
from controller.planning.templates import RESOURCE_KEYS, NodeTemplate
from controller.planning.triggers import TriggerFact
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
    outlook: Outlook | None
    """Demand, forecast, margin and the ready capacity sizing asks for (``forecast``);
    None when the pool is sized by pressure bands (``scoring.sizing.enabled`` false)."""
    view: SchedulingView | None = None
    off_blocked: str | None = None
    """Why a schedule forbids power-off now, if one does."""
    min_from: str | None = None
    """The schedule that raised minNodes, if one did."""
    kept_warm: dict[str, str] = field(default_factory=dict)
    """Machines whose power-off would leave less than the pool's spare, with why."""
    unplaceable: dict[str, str] = field(default_factory=dict)
    """Pending pods that no machine of the pool could run, with why."""
    ignored: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    """Machines the pending pods' estimate could not use, with why: a decision that
    falls back to pressure still says why they were not candidates."""
    triggers: tuple[TriggerFact, ...] = ()
    """The pool's PromQL triggers at their last evaluation."""


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
        self.sizing = config.scoring.sizing
        exponent = (self.thresholds.exponent if self.thresholds.exponent is not None
                    else np.ones_like(self.thresholds.target_level))
        # Until errors are known: the margin the pressure rule kept above demand, the
        # capacity that holds the level at targetLevel.
        self.fallback = np.maximum(self.thresholds.target_level, 1e-6) ** (-1.0 / exponent) - 1.0

    def plan(self, snapshot: Snapshot) -> PlanResult:
        """Decide every pool of the snapshot; never reads a clock or does I/O."""
        aborts, machines = _abort_late_boots(snapshot.machines, snapshot.now)
        actions: list[Action] = [*aborts, *_held_moves(machines, snapshot.now)]
        records: list[DecisionRecord] = []
        memory = dict(snapshot.memory)
        by_pool = _by_pool(machines)
        pools = self._planned(snapshot)
        view = snapshot.scheduling
        arriving = _arriving(view)
        for pool in pools:
            members = by_pool.get(pool.name, [])
            signal = snapshot.signals.get(pool.name) or _quiet_signal()
            outcome = self._plan_pool(pool, members, signal,
                                      memory.get(pool.name, PoolMemory()), snapshot.now,
                                      view=view, arriving=arriving, wall=snapshot.wall,
                                      facts=snapshot.triggers.get(pool.name, ()))
            if view is not None:  # what one pool powers on, the next pool's pods may use
                arriving.extend(view.templates[action.machine] for action in outcome.actions
                                if action.kind is ActionKind.POWER_ON)
            actions.extend(outcome.actions)
            records.append(outcome.record)
            memory[pool.name] = outcome.memory
        after = _started(snapshot.machines, actions, snapshot.now)
        wakes = self._wakes(pools, after, memory, snapshot.now, snapshot.wall,
                            facts=snapshot.triggers)
        return PlanResult(tuple(actions), tuple(records), memory,
                          wake_at=min(wakes.values(), default=math.inf), wakes=wakes)

    def wake_at(self, snapshot: Snapshot) -> dict[str, float]:
        """Each pool's wake time from the snapshot as it stands, nothing decided: for a
        pool the caller has not planned yet."""
        return self._wakes(self._planned(snapshot), snapshot.machines, snapshot.memory,
                           snapshot.now, snapshot.wall, facts=snapshot.triggers)

    def _planned(self, snapshot: Snapshot) -> list[PoolSpec]:
        return [pool for pool in self.config.pools
                if snapshot.pools is None or pool.name in snapshot.pools]

    def _wakes(self, pools: list[PoolSpec], machines: Iterable[MachineView],
               memory: dict[str, PoolMemory], now: float, wall: float | None, *,
               facts: Mapping[str, tuple[TriggerFact, ...]]) -> dict[str, float]:
        """Per pool, the earliest future deadline of any timer a rule applies."""
        by_pool = _by_pool(machines)
        wakes = {}
        for pool in pools:
            members = by_pool.get(pool.name, [])
            remembered = memory.get(pool.name, PoolMemory())
            deadlines = (*_window_ends(pool, remembered), *_late_at(members),
                         *_bucket_end(remembered, now, wall),
                         *_schedule_edge(pool, now, wall),
                         *recycling.wake_times(pool, members),
                         *eligibility.wake_times(pool, members, remembered),
                         *signals.wake_times(members, settle=self.join_settle),
                         *triggers.wake_times(facts.get(pool.name, ()), members))
            wakes[pool.name] = min((d for d in deadlines if d > now), default=math.inf)
        return wakes

    def _plan_pool(self, spec: PoolSpec, machines: list[MachineView], raw: PoolSignal,
                   memory: PoolMemory, now: float, *, view: SchedulingView | None = None,
                   arriving: list[NodeTemplate] | None = None,
                   wall: float | None = None,
                   facts: tuple[TriggerFact, ...] = ()) -> _PoolPlan:
        signal = signals.effective(raw, machines, target=self.thresholds.target_level,
                                   settle=self.join_settle, now=now)
        rules = schedules.in_force(spec, wall)
        totals = pool_totals(machines)
        outlook = None
        if self.sizing.enabled:
            outlook, memory = self._foresee(spec, memory, signal, totals, machines,
                                            at=now if wall is None else wall, view=view)
        pool = _Pool(_with_min_nodes(spec, rules.min_nodes), machines, signal, totals, now,
                     outlook, view, off_blocked=rules.power_off_blocked,
                     min_from=rules.min_from, triggers=facts)
        planned = self._decide(pool, memory, arriving or [])
        if spec.scale_down.max_uptime and not planned.actions \
                and planned.memory.wants_up_since is None:
            planned = self._recycle(pool, planned)
        if facts and not planned.record.triggers:
            record = dataclasses.replace(planned.record,
                                         triggers=triggers.explain(facts, now, cause=None))
            planned = dataclasses.replace(planned, record=record)
        return planned

    def _foresee(self, spec: PoolSpec, memory: PoolMemory, signal: PoolSignal,
                 totals: PoolTotals, machines: list[MachineView], *, at: float,
                 view: SchedulingView | None) -> tuple[Outlook, PoolMemory]:
        """The pool's demand now into its history, and the capacity to keep ready.

        With the scheduler's view, pending pods are the pods rule's to place (only on
        machines that can run them): they count here once running, as load."""
        pending = signal.pending if view is None else zeros(len(RESOURCES))
        demand = forecast.observed_demand(levels=signal.levels, ready=totals.ready,
                                          pending=pending, exponent=self.thresholds.exponent)
        if signal.unheard is not None and memory.demand is not None:
            # Unknown is not idle, nor the target level: the last demand heard stands.
            demand = np.where(signal.unheard, memory.demand.last_demand, demand)
        horizon = slowest_boot(machines)
        history = forecast.observe(memory.demand, demand, at=at, horizon=horizon,
                                   window=self.sizing.error_window,
                                   quantile=self.sizing.quantile)
        outlook, history = forecast.outlook(history, demand, at=at, horizon=horizon,
                                            hold=max(horizon, spec.scale_down.min_uptime),
                                            fallback=self.fallback)
        return outlook, dataclasses.replace(memory, demand=history)

    def _decide(self, pool: _Pool, memory: PoolMemory,
                arriving: list[NodeTemplate]) -> _PoolPlan:
        """The pool's decision on pods, bounds, warm capacity and pressure."""
        spec, machines, signal, now, view = (pool.spec, pool.machines, pool.signal, pool.now,
                                             pool.view)
        if pool.totals.active_count < spec.limits.min_nodes:
            why = f", schedule {pool.min_from}" if pool.min_from else ""
            situation = Situation(Direction.POWER_ON, zeros(len(RESOURCES)),
                                  np.zeros(len(RESOURCES), dtype=bool),
                                  f"below minNodes ({spec.limits.min_nodes}{why})")
            return self._scale_up(pool, situation, _remember(memory, situation, now))
        pods = view.pending.get(spec.name, ()) if view is not None else ()
        if pods and not signals.just_joined(machines, settle=self.join_settle, now=now):
            planned = self._scale_up_for_pods(pool, memory, pods, arriving)
            if isinstance(planned, _PoolPlan):
                return planned
            pool, signal = planned, planned.signal  # no machine for them: pressure decides
        warmth = self._warmth(pool)
        if warmth is not None:
            short = warm.shortfall(spec, warmth, machines)
            if short is not None:
                return self._keep_warm(pool, short, memory)
            pool = dataclasses.replace(
                pool, kept_warm=warm.power_off_exclusions(spec, warmth, machines))
        situation = self._situation(pool, signal)
        memory = _remember(memory, situation, now)
        if pool.triggers:
            by_trigger = self._on_triggers(pool, situation, memory)
            if by_trigger is not None:
                return by_trigger
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

    def _situation(self, pool: _Pool, signal: PoolSignal) -> Situation:
        """Pressure bands decide, or with ``scoring.sizing`` the demand forecast."""
        horizon = horizon_of(pool.machines)
        if pool.outlook is None:
            return situation_of(signal, pool.totals, self.thresholds, horizon)
        return sizing.situation(signal, pool.totals, self.thresholds, horizon=horizon,
                                outlook=pool.outlook)

    def _on_triggers(self, pool: _Pool, situation: Situation,
                     memory: PoolMemory) -> _PoolPlan | None:
        """The step a firing PromQL trigger asks for (``triggers``), or None to let
        pressure decide: it already powers on, or nothing fires."""
        asking = triggers.asked(pool.triggers, pool.machines, pool.now)
        if asking is None:
            return None
        ready_up = situation.direction is Direction.POWER_ON and (
            pool.signal.pending_pods > 0 or memory.wants_up_since is None
            or pool.now - memory.wants_up_since >= pool.spec.scale_up.stabilization_window)
        if ready_up or (asking.direction == "down" and (
                situation.direction is Direction.POWER_ON or pool.signal.pending_pods)):
            return None
        said = asking.fact.describe(pool.now)
        direction = Direction.POWER_ON if asking.direction == "up" else Direction.POWER_OFF
        demand = _one_machine(pool.machines)
        step = Situation(direction, demand, demand > 0, said)
        if asking.waiting is not None:
            planned = self._hold(pool, step, memory, f"{said}; {asking.waiting}")
        elif asking.direction == "up":
            planned = self._scale_up(pool, step, memory, limit=1)
        else:
            planned = self._scale_down(pool, step, memory)
        record = dataclasses.replace(planned.record, triggers=triggers.explain(
            pool.triggers, pool.now, cause=asking.fact.name))
        return dataclasses.replace(planned, record=record)

    def _warmth(self, pool: _Pool) -> warm.Warmth | None:
        """The pool's free capacity, when it keeps a spare."""
        if not pool.spec.spare.wanted:
            return None
        return warm.warmth(pool.spec, pool.machines, view=pool.view, signal=pool.signal,
                           exponent=self.thresholds.exponent)

    def _recycle(self, pool: _Pool, planned: _PoolPlan) -> _PoolPlan:
        """Start or finish the pool's rotation of a machine past maxUptime, in a pass
        that decided nothing else; say so in the record when one waits."""
        memory = planned.memory
        if memory.rotating is not None:
            return self._finish_rotation(pool, planned, *memory.rotating)
        overdue = recycling.overdue(pool.spec, pool.machines, pool.now)
        if not overdue or pool.off_blocked:
            return planned
        movable = [m for m in overdue if not m.scale_down_disabled
                   and pool.now >= m.backoff_until]
        eligible = eligibility.power_on_candidates(pool.spec, pool.machines, pool.totals,
                                                   memory, pool.now)
        swap = None if eligible.blocked else recycling.swap_for(movable, eligible.machines)
        if swap is None:
            note = recycling.no_swap(pool.spec, overdue[0], pool.now)
            return _noted(planned, note)
        reason = swap.reason(pool.spec, pool.now)
        memory = dataclasses.replace(memory, power_ons=(*memory.power_ons, pool.now),
                                     rotating=(swap.old.name, swap.replacement.name))
        return self._rotation_step(pool, planned, memory, Action(
            ActionKind.POWER_ON, swap.replacement.name, pool.spec.name, reason))

    def _finish_rotation(self, pool: _Pool, planned: _PoolPlan, old_name: str,
                         new_name: str) -> _PoolPlan:
        """Power the old machine off once its replacement is Ready, every rule allowing."""
        by_name = {m.name: m for m in pool.machines}
        old, new = by_name.get(old_name), by_name.get(new_name)
        memory = dataclasses.replace(planned.memory, rotating=None)
        if old is None or new is None or old.state is not MachineState.READY \
                or new.state in (MachineState.OFF, MachineState.ERROR):
            return dataclasses.replace(planned, memory=memory)  # over, or failed
        if new.state is not MachineState.READY:
            return _noted(planned, f"recycling: {old_name} waits for {new_name} to be Ready")
        held = self._held_on(pool, old, planned.memory)
        if held:
            return _noted(planned, f"recycling: {old_name} stays on: {held}")
        memory = dataclasses.replace(memory, power_offs=(*memory.power_offs, pool.now))
        reason = recycling.finished(old, new_name, pool.now)
        return self._rotation_step(pool, planned, memory, Action(
            ActionKind.POWER_OFF, old_name, pool.spec.name, reason))

    def _held_on(self, pool: _Pool, old: MachineView, memory: PoolMemory) -> str | None:
        """Why a rule keeps old on now, if one does: the scale-down rules, warm
        capacity, and with the scheduler's view the simulation."""
        if pool.off_blocked:
            return pool.off_blocked
        eligible = eligibility.power_off_candidates(
            pool.spec, pool.machines, pool.totals, memory, levels=pool.signal.levels,
            high=self.thresholds.level_high, exponent=self.thresholds.exponent, now=pool.now)
        warmth = self._warmth(pool)
        if warmth is not None:
            eligible = _keep_warm(eligible, warm.power_off_exclusions(
                pool.spec, warmth, pool.machines))
        if eligible.blocked or old.name in eligible.excluded:
            return eligible.blocked or eligible.excluded[old.name]
        if pool.view is None:
            return None
        removing = {m.node_name for m in pool.machines if m.state.in_flight_down}
        spared = first_spared(pool.view, pool.spec, [old], node_of={old.name: old.node_name},
                              removing=removing)
        return spared.passed_over.get(old.name) if spared.machine is None else None

    def _rotation_step(self, pool: _Pool, planned: _PoolPlan, memory: PoolMemory,
                       action: Action) -> _PoolPlan:
        direction = (Direction.POWER_ON if action.kind is ActionKind.POWER_ON
                     else Direction.POWER_OFF)
        situation = Situation(direction, zeros(len(RESOURCES)),
                              np.zeros(len(RESOURCES), dtype=bool), action.reason)
        record = self._record(pool, situation, action.reason, chosen=(action.machine,),
                              excluded=planned.record.excluded, scores=())
        return _PoolPlan([action], record, memory)

    def _keep_warm(self, pool: _Pool, short: warm.Shortfall, memory: PoolMemory) -> _PoolPlan:
        """Power on, in the scorer's order, what the pool's spare lacks."""
        demand = zeros(len(RESOURCES))
        demand[:2] = short.demand
        situation = Situation(Direction.POWER_ON, demand, demand > 0, short.reason)
        return self._scale_up(pool, situation, _remember(memory, situation, pool.now),
                              limit=short.machines)

    def _scale_up(self, pool: _Pool, situation: Situation, memory: PoolMemory, *,
                  limit: int | None = None) -> _PoolPlan:
        """limit: at most this many machines (None: as many as the demand takes)."""
        eligible = eligibility.power_on_candidates(pool.spec, pool.machines, pool.totals,
                                                   memory, pool.now)
        if eligible.blocked or not eligible.machines:
            reason = eligible.blocked or "no machine can be powered on"
            return self._hold(pool, situation, memory, f"{situation.reason}; {reason}",
                              excluded=eligible.excluded)
        chosen, decisions = self._pick_up(pool, eligible.machines, situation, memory,
                                          limit=limit)
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

    def _scale_up_for_pods(self, pool: _Pool, memory: PoolMemory, pods: tuple[Pod, ...],
                           arriving: list[NodeTemplate]) -> _PoolPlan | _Pool:
        """Power on what the estimate packs the pending pods onto; when they need no new
        machine (they fit on machines arriving, fit none, or ask for none), the pool
        noted with why and its pending requests set aside, for pressure to decide."""
        assert pool.view is not None
        situation = _pods_situation(pods)
        remembered = _remember(memory, situation, pool.now)
        eligible = eligibility.power_on_candidates(pool.spec, pool.machines, pool.totals,
                                                   remembered, pool.now)
        if eligible.blocked:
            return self._hold(pool, situation, remembered,
                              f"{situation.reason}; {eligible.blocked}",
                              excluded=eligible.excluded)
        ranked, decisions = self._ranked(situation, eligible.machines, pool.now)
        asked = pods_up(pool.view, pods, ranked, arriving=arriving,
                        budget=self._up_budget(pool, remembered))
        noted = dataclasses.replace(pool, unplaceable=asked.unplaceable, ignored=asked.ignored,
                                    excluded=eligible.excluded)
        chosen = self._within_ceilings(pool, asked.chosen)
        if not chosen:
            quiet = dataclasses.replace(pool.signal, pending=zeros(len(RESOURCES)))
            return dataclasses.replace(noted, signal=quiet)
        reason = (f"{len(pods) - len(asked.unplaceable) - len(asked.ignored) - asked.waiting}"
                  f" pending pod(s) fit on {len(chosen)} machine(s) that are off")
        situation = dataclasses.replace(situation, reason=reason)
        memory = dataclasses.replace(
            remembered, power_ons=(*remembered.power_ons, *([pool.now] * len(chosen))),
            last_scale_up=pool.now)
        actions = [Action(ActionKind.POWER_ON, m.name, pool.spec.name, reason) for m in chosen]
        record = self._record(noted, situation, reason, chosen=tuple(m.name for m in chosen),
                              excluded=eligible.excluded, scores=tuple(decisions))
        return _PoolPlan(actions, record, memory)

    def _ranked(self, situation: Situation, machines: list[MachineView],
                now: float) -> tuple[list[MachineView], list[Decision]]:
        """machines in the scorer's order for the situation's demand, best first."""
        if not machines:
            return [], []
        decision = self._score(Direction.POWER_ON, situation.demand, situation.useful,
                               machines, now)
        if decision.explanation is None:
            return list(machines), [decision]
        return [machines[int(i)] for i in decision.explanation.order], [decision]

    def _up_budget(self, pool: _Pool, memory: PoolMemory) -> int:
        """How many machines the pool may power on in this pass: batch, rate, maxNodes."""
        spec = pool.spec
        budget = min(spec.scale_up.batch,
                     spec.scale_up.max_per_minute - eligibility.recent(memory.power_ons, pool.now))
        if spec.limits.max_nodes:
            budget = min(budget, spec.limits.max_nodes - pool.totals.active_count)
        return budget

    @staticmethod
    def _within_ceilings(pool: _Pool, machines: tuple[MachineView, ...]) -> list[MachineView]:
        """machines in order, each kept only if the pool's ceilings still allow it."""
        active = pool.totals.active_capacity.copy()
        kept = []
        for machine in machines:
            if eligibility.exceeds_ceiling(machine, pool.spec, active) is None:
                kept.append(machine)
                active = active + machine.capacity
        return kept

    def _pick_up(self, pool: _Pool, candidates: list[MachineView], situation: Situation,
                 memory: PoolMemory, *,
                 limit: int | None = None) -> tuple[list[MachineView], list[Decision]]:
        spec = pool.spec
        budget = self._up_budget(pool, memory)
        if limit is not None:
            budget = min(budget, limit)
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
        if pool.off_blocked:
            return self._hold(pool, situation, memory, f"{situation.reason}; {pool.off_blocked}")
        eligible = eligibility.power_off_candidates(
            pool.spec, pool.machines, pool.totals, memory,
            levels=pool.signal.levels, high=self.thresholds.level_high,
            exponent=self.thresholds.exponent, now=pool.now,
            floor=None if pool.outlook is None else pool.outlook.keep)
        eligible = _keep_warm(eligible, pool.kept_warm)
        if eligible.blocked or not eligible.machines:
            reason = eligible.blocked or _none_off(eligible, pool.kept_warm)
            return self._hold(pool, situation, memory, f"{situation.reason}; {reason}",
                              excluded=eligible.excluded)
        decision = self._score(Direction.POWER_OFF, situation.demand, situation.useful,
                               eligible.machines, pool.now)
        assert decision.winner is not None  # candidates were not empty
        if pool.view is not None:
            return self._scale_down_spared(pool, situation, memory, eligible, decision)
        # The unneeded timer keeps running while pressure stays low: the rate limit and
        # maxConcurrent pace the rest, so a morning's surplus returns in minutes, not days.
        memory = dataclasses.replace(memory, power_offs=(*memory.power_offs, pool.now))
        action = Action(ActionKind.POWER_OFF, decision.winner, pool.spec.name, situation.reason)
        record = self._record(pool, situation, situation.reason, chosen=(decision.winner,),
                              excluded=eligible.excluded, scores=(decision,))
        return _PoolPlan([action], record, memory)

    def _scale_down_spared(self, pool: _Pool, situation: Situation, memory: PoolMemory,
                           eligible: eligibility.Eligible, decision: Decision) -> _PoolPlan:
        """The best-scored machine the cluster can spare (its pods fit elsewhere, its
        budgets allow it, nothing blocks it); hold, saying why, when there is none."""
        assert pool.view is not None
        order = (decision.explanation.order if decision.explanation is not None
                 else range(len(eligible.machines)))
        ranked = [eligible.machines[int(i)] for i in order]
        removing = {m.node_name for m in pool.machines if m.state.in_flight_down}
        spared = first_spared(pool.view, pool.spec, ranked,
                              node_of={m.name: m.node_name for m in ranked}, removing=removing)
        excluded = {**eligible.excluded, **spared.passed_over}
        if spared.machine is None:
            return self._hold(pool, situation, memory,
                              f"{situation.reason}; no node's pods have somewhere to go",
                              excluded=excluded)
        name = spared.machine.name
        memory = dataclasses.replace(memory, power_offs=(*memory.power_offs, pool.now))
        action = Action(ActionKind.POWER_OFF, name, pool.spec.name, situation.reason)
        record = self._record(pool, situation, situation.reason, chosen=(name,),
                              excluded=excluded, scores=(decision,))
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
            demand=_named(situation.demand), chosen=chosen,
            excluded={**pool.excluded, **excluded}, scores=scores,
            unplaceable=pool.unplaceable, ignored=pool.ignored)


def _arriving(view: SchedulingView | None) -> list[NodeTemplate]:
    """Templates of the machines already on their way, of every pool."""
    if view is None:
        return []
    return [view.templates[name] for name in view.arriving if name in view.templates]


def _pods_situation(pods: tuple[Pod, ...]) -> Situation:
    """Power on for pending pods: their summed requests are the demand to score by."""
    demand = zeros(len(RESOURCES))
    for pod in pods:
        requests = pod.shape.request_map
        demand += np.array([requests.get(RESOURCE_KEYS[r], 0.0) for r in RESOURCES])
    return Situation(Direction.POWER_ON, demand, demand > 0, f"{len(pods)} pending pod(s)")


def _one_machine(machines: list[MachineView]) -> np.ndarray:
    """The demand of a trigger's step: the pool's smallest machine, so the scorer
    prefers the machine that fits one step best."""
    if not machines:
        return zeros(len(RESOURCES))
    smallest: np.ndarray = np.min([m.capacity for m in machines], axis=0)
    return smallest


def _window_ends(pool: PoolSpec, memory: PoolMemory) -> Iterator[float]:
    """When the stabilization window or the unneeded time that ``_plan_pool`` waits
    out ends."""
    if memory.wants_up_since is not None:
        yield memory.wants_up_since + pool.scale_up.stabilization_window
    if memory.wants_down_since is not None:
        yield memory.wants_down_since + pool.scale_down.unneeded_time


def _bucket_end(memory: PoolMemory, now: float, wall: float | None) -> Iterator[float]:
    """When the pool's demand history closes its bucket, on the planner's clock: a new
    forecast then asks for a pass even when nothing else happens."""
    end = forecast.wake_time(memory.demand)
    if end is not None:
        yield now + (end - (now if wall is None else wall))


def slowest_boot(machines: list[MachineView]) -> float:
    """The sizing horizon: capacity ordered now is all Ready after the slowest boot."""
    return max((m.boot_seconds for m in machines), default=0.0)


def _noted(planned: _PoolPlan, note: str) -> _PoolPlan:
    """planned with note added to its record's reason."""
    record = dataclasses.replace(planned.record, reason=f"{planned.record.reason}; {note}")
    return dataclasses.replace(planned, record=record)


def _keep_warm(eligible: eligibility.Eligible, kept: dict[str, str]) -> eligibility.Eligible:
    """eligible less the machines the pool's spare keeps on, each excluded with why."""
    if not kept:
        return eligible
    excluded = {**eligible.excluded,
                **{m.name: kept[m.name] for m in eligible.machines if m.name in kept}}
    return eligibility.Eligible([m for m in eligible.machines if m.name not in kept],
                                excluded, eligible.blocked)


def _none_off(eligible: eligibility.Eligible, kept: dict[str, str]) -> str:
    """Why no machine may be powered off, when nothing blocks the pool as a whole."""
    if any(name in kept for name in eligible.excluded):
        return "no machine can be powered off without going below the warm capacity"
    return "no machine can be powered off"


def _schedule_edge(pool: PoolSpec, now: float, wall: float | None) -> Iterator[float]:
    """When a window of the pool's schedules next opens or closes, on the planner's
    clock: ``schedules`` applies the windows."""
    edge = schedules.next_edge(pool, wall)
    if edge is not None and wall is not None:
        yield now + (edge - wall)


def _with_min_nodes(pool: PoolSpec, min_nodes: int) -> PoolSpec:
    """pool with the minNodes its schedules put in force (itself when they do not)."""
    if min_nodes == pool.limits.min_nodes:
        return pool
    return pool.model_copy(update={"limits": pool.limits.model_copy(
        update={"min_nodes": min_nodes})})


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


def _held_moves(machines: list[MachineView], now: float) -> Iterator[Action]:
    """Move each machine a person holds (``powerState``) to the state held.

    A person's word, not a decision: no pressure, window, rate limit or bound
    applies, and ``eligibility`` keeps the machine out of every pool decision. A
    machine held on that is off is powered on; one held off that is Ready is drained
    through the Eviction API (its PodDisruptionBudgets still apply) and powered off.
    Its pods become pending, and the pool's planning finds them room like any other.
    A machine on its way, or backing off (after a failed power-on, or a drain that
    was refused), is left until it settles or its backoff ends; a quarantined one
    until its BMC answers again (a drain whose power-off cannot follow is half an
    action).
    """
    for machine in machines:
        if machine.quarantined:
            continue
        if machine.held == "on" and (
                machine.state is MachineState.OFF
                or (machine.state is MachineState.ERROR and now >= machine.backoff_until)):
            yield Action(ActionKind.POWER_ON, machine.name, machine.pool,
                         "held on (powerState: on)")
        elif (machine.held == "off" and machine.state is MachineState.READY
              and now >= machine.backoff_until):
            yield Action(ActionKind.POWER_OFF, machine.name, machine.pool,
                         "held off (powerState: off)")


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
