"""The reactor: plans when something happens, not on a timer scan.

Triggers wake it: a node's pressure crossing a threshold, new unschedulable pods,
a machine changing state, a new configuration, a PromQL trigger changing state
(``controller.evaluator``). A pass plans only the pools an event touched. Between
events it sleeps until the earliest ``wake_at`` the planner gave for any pool (the
planner owns every timer a decision depends on, and reports each deadline beside its
rule), and otherwise indefinitely.

What is left here is the loop, the snapshot (records, measured pressure, pending
pods, as facts: what they mean is the planner's to say) and the action tasks, each
run apart so one slow BMC never blocks a pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np

from controller.actuation import Actuator
from controller.config import RESOURCES, AutoscalerConfig
from controller.history import SAVE_EVERY, HistoryFile
from controller.ingest import PressureStore
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import (
    ActionKind,
    DecisionRecord,
    MachineState,
    MachineView,
    Planner,
    PlanResult,
    PoolMemory,
    PoolSignal,
    Snapshot,
)
from controller.planning.constraints import SchedulingView
from controller.planning.templates import NodeTemplate, template_for_machine
from controller.planning.triggers import TriggerFact
from controller.power import PowerState
from wire import PRESSURE_RESOURCES

log = logging.getLogger(__name__)

KEPT_DECISIONS = 2000
"""Decision records kept for ``bamel explain``: a pass over every pool of a large
configuration must not push the other pools' last decisions out."""

ClusterFacts = Callable[[], SchedulingView]
"""The scheduler's view from the cluster (pending pods, Ready nodes, budgets), without
the machines' templates, which the reactor adds from configuration and records."""
TriggerFacts = Callable[[], Mapping[str, tuple[TriggerFact, ...]]]
"""Pool → its PromQL triggers' states at their last evaluation (``controller.evaluator``)."""
Unplaceable = Callable[[str, Mapping[str, str]], None]
"""(pool, pod → why) after each pass: pods that powered nothing on ("" for no pool)."""

MEASURED = np.array([resource in PRESSURE_RESOURCES for resource in RESOURCES])
"""The resources agents report pressure of, in RESOURCES order."""


class Reactor:
    """Owns the planning loop; actions run as tasks so one slow BMC never blocks it."""

    def __init__(self, *, config: AutoscalerConfig, actuator: Actuator,
                 records: dict[str, MachineRecord], pressure: PressureStore,
                 metrics: ControllerMetrics,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 cluster: ClusterFacts | None = None,
                 unplaceable: Unplaceable | None = None,
                 triggers: TriggerFacts | None = None,
                 history: HistoryFile | None = None) -> None:
        self.config = config
        self.planner = Planner(config)
        self._index(config)
        self.actuator = actuator
        self.records = records
        self.pressure = pressure
        self.metrics = metrics
        self.clock = clock
        self.wall_clock = wall_clock
        """Unix seconds, for schedules: ``clock`` is monotonic and knows no dates."""
        self.cluster = cluster
        """None: no scheduler's view (decide on pressure and summed requests)."""
        self._unplaceable = unplaceable or (lambda pool, pods: None)
        self._triggers: TriggerFacts = triggers or (lambda: {})
        self._templates: dict[str, tuple[MachineRecord, NodeTemplate]] = {}
        """Machine → its template and the record it was built from."""
        self.pending: dict[str, tuple[np.ndarray, int]] = {}
        self.history = history
        """Where the pools' demand history outlives the process (None: nowhere)."""
        self.memory: dict[str, PoolMemory] = {} if history is None else history.memory()
        self._saved_at = self.clock()
        self._saving: asyncio.Task[None] | None = None
        self._wakes: dict[str, float] = {}
        """Each pool's wake_at from its last pass."""
        self.decisions: deque[DecisionRecord] = deque(maxlen=KEPT_DECISIONS)
        self._wake = asyncio.Event()
        self._touched: set[str] | None = None
        """Pools an event touched since the last pass; None: plan every pool."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._acting: dict[str, tuple[ActionKind, float]] = {}
        """Actions started whose first record may not be written yet: the planner must
        see their machines as on their way, or a pass in between would choose them
        again and count a second power-on against the rate limit."""

    def see_cluster(self, cluster: ClusterFacts, unplaceable: Unplaceable) -> None:
        """From now on plan with the scheduler's view, and say which pods fit nothing."""
        self.cluster = cluster
        self._unplaceable = unplaceable

    def wake(self, reason: str = "", *, pool: str | None = None) -> None:
        """Ask for a planning pass as soon as possible, of pool only when one is named."""
        if reason:
            log.debug("wake: %s", reason)
        if pool is None:
            self._touched = None
        elif self._touched is not None:
            self._touched.add(pool)
        self._wake.set()

    def wake_for_node(self, node: str, reason: str = "") -> None:
        """A node's pressure crossed a threshold: plan its pool (nothing if it has none)."""
        pool = self._node_pools.get(node)
        if pool is not None:
            self.wake(reason, pool=pool)

    def wake_for_machine(self, machine: str, reason: str = "") -> None:
        """A machine's record changed: plan its pool."""
        spec = self._specs.get(machine)
        self.wake(reason, pool=spec.pool if spec else None)

    def node_lost(self, machine: str, reason: str) -> None:
        """Record a Ready machine as lost, unless an action already owns it."""
        if machine in self._in_flight or machine not in self._specs:
            return
        self._spawn(machine, self.actuator.lose(machine, reason))

    def busy(self, machine: str) -> bool:
        """Whether an action on machine is running (the power sync leaves it alone)."""
        return machine in self._in_flight

    def restore_power(self, machine: str, recorded: PowerState) -> None:
        """Switch a machine back to its recorded power, unless an action owns it."""
        if machine in self._in_flight or machine not in self._specs:
            return
        self._spawn(machine, self.actuator.restore(machine, recorded))

    def set_pending(self, pool: str, requests: dict[str, float], pods: int) -> None:
        """Record a pool's unschedulable requests (from the kube layer) and wake."""
        self.pending[pool] = (np.array([requests.get(r, 0.0) for r in RESOURCES]), pods)
        self.wake(f"pending pods in {pool}", pool=pool)

    def reconfigure(self, config: AutoscalerConfig) -> None:
        """Swap in a new validated configuration; memory of windows is kept."""
        self.config = config
        self.planner = Planner(config)
        self._index(config)
        self._wakes.clear()  # deadlines under the old rules; the next pass plans every pool
        self.wake("configuration changed")

    def _index(self, config: AutoscalerConfig) -> None:
        """Specs by name and by pool, once per configuration: a pass must not search."""
        self._specs = {spec.name: spec for spec in config.machines}
        self._capacities = {spec.name: np.array(spec.capacity.vector())
                            for spec in config.machines}
        self._by_pool: dict[str, list[str]] = {pool.name: [] for pool in config.pools}
        for spec in config.machines:
            self._by_pool.setdefault(spec.pool, []).append(spec.name)
        self._node_pools = {spec.name: spec.pool for spec in config.machines}
        self._pool_specs = {pool.name: pool for pool in config.pools}
        self._templates = {}
        """Node → pool, for crossings; a machine's node name joins it once it is ready."""

    async def run(self) -> None:
        """Plan on every wake-up or deadline, until cancelled."""
        # Every step a previous controller left under way is finished first: a machine
        # the planner cannot choose (neither off nor ready) would otherwise stay there.
        for name, record in self.records.items():
            if record.state.in_flight_up or record.state.in_flight_down:
                self._spawn(name, self.actuator.resume(name))
        touched: set[str] | None = None
        while True:
            # A pass of every pool at start (what happened before run() began), then of
            # the pools each wake-up touched; a wake during a pass is kept, so the next
            # wait returns at once.
            self._touched = set()
            self._wake.clear()
            self.plan_once(touched)
            timeout = self.next_deadline() - self.clock()
            if timeout > 0:
                try:
                    async with asyncio.timeout(None if math.isinf(timeout) else timeout):
                        await self._wake.wait()
                except TimeoutError:
                    self._touched = None  # a deadline: any pool may be concerned
            else:
                self._touched = None  # a pool's deadline passed while others were planned
            touched = self._touched

    def plan_once(self, pools: set[str] | None = None) -> PlanResult:
        """One planning pass (of pools, or all) over a fresh snapshot; actions are
        started, not awaited."""
        started = time.perf_counter()
        snapshot = self.snapshot(pools)
        result = self.planner.plan(snapshot)
        self.metrics.decision_latency.observe(time.perf_counter() - started)
        self._tell_unplaceable(result, snapshot.scheduling)
        self.memory = result.memory
        self._keep_history()
        self._wakes.update(result.wakes)
        for record in result.records:
            for resource in PRESSURE_RESOURCES:
                self.metrics.pool_level.labels(record.pool, resource).set(record.levels[resource])
                self.metrics.pool_rate.labels(record.pool, resource).set(record.rates[resource])
            self.decisions.append(record)
            outcome = "act" if record.chosen else "hold"
            direction = record.direction.value if record.direction else "none"
            self.metrics.decided(pool=record.pool, direction=direction, outcome=outcome,
                                 reason=record.reason)
        for action in result.actions:
            if action.machine in self._in_flight:
                continue
            self._acting[action.machine] = (action.kind, self.clock())
            self._spawn(action.machine, self.actuator.execute(action))
        return result

    def snapshot(self, pools: set[str] | None = None) -> Snapshot:
        """The planner's view now (of pools, or all): machine records, pool pressure,
        pending pods, memory."""
        now = self.clock()
        names = [pool.name for pool in self.config.pools if pools is None or pool.name in pools]
        views = tuple(self._view(machine) for name in names for machine in self._by_pool[name])
        return Snapshot(now=now, config=self.config, machines=views,
                        signals=self._signals(now, names), memory=self.memory,
                        pools=None if pools is None else frozenset(pools),
                        scheduling=self._scheduling(), wall=self.wall_clock(),
                        triggers=self._triggers())

    def _scheduling(self) -> SchedulingView | None:
        """The cluster's view with every machine's template and what is arriving."""
        if self.cluster is None:
            return None
        arriving = tuple(name for name in self._specs
                         if name in self._acting or
                         self.records.get(name, MachineRecord()).state.in_flight_up)
        return dataclasses.replace(self.cluster(), templates=self._machine_templates(),
                                   arriving=arriving)

    def _machine_templates(self) -> dict[str, NodeTemplate]:
        """Each machine's template, rebuilt only when its record changed."""
        templates = {}
        for name, spec in self._specs.items():
            record = self.records.get(name, MachineRecord())
            built = self._templates.get(name)
            if built is None or built[0] is not record:
                template = template_for_machine(
                    spec, self._pool_specs[spec.pool], node_name=record.kubernetes_node,
                    learned_allocatable=dict(record.allocatable),
                    learned_labels=dict(record.node_labels))
                built = self._templates[name] = (record, template)
            templates[name] = built[1]
        return templates

    def _tell_unplaceable(self, result: PlanResult, view: SchedulingView | None) -> None:
        if view is None:
            return
        for record in result.records:
            self._unplaceable(record.pool, record.unplaceable)
        self._unplaceable("", {pod.key: "no pool's labels and taints admit it"
                               for pod in view.unhostable})

    def next_deadline(self) -> float:
        """The earliest instant a decision could change without a new event: the
        earliest pool wake_at, each from the pool's last pass (from its state as it
        stands while it has none). One in the past means that pool is due."""
        unplanned = self._by_pool.keys() - self._wakes.keys()
        wakes = list(self._wakes.values())
        if unplanned:
            wakes.extend(self.planner.wake_at(self.snapshot(unplanned)).values())
        return min(wakes, default=math.inf)

    async def settle(self) -> None:
        """Wait until every action in flight has finished (``--once`` ends after them)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel actions in flight and wait for them (their records say where they were);
        write the demand history a last time."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)
        if self.history is not None and self._sized():
            await self.history.save(self.memory)

    def _sized(self) -> bool:
        """Whether any pool has a demand history (``scoring.sizing`` on): none, no file."""
        return any(memory.demand is not None for memory in self.memory.values())

    def _keep_history(self) -> None:
        """Write the demand history when SAVE_EVERY has passed and no write is running."""
        if self.history is None or self.clock() - self._saved_at < SAVE_EVERY \
                or not self._sized():
            return
        if self._saving is not None and not self._saving.done():
            return
        self._saved_at = self.clock()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.history.save_now(self.memory)
            return
        self._saving = asyncio.create_task(self.history.save(dict(self.memory)),
                                           name="demand-history")

    def _spawn(self, machine: str, work: object) -> None:
        self._in_flight.add(machine)
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"act:{machine}")  # type: ignore[arg-type]
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight.discard(machine)
            self._acting.pop(machine, None)
            spec = self._specs.get(machine)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("action on %s failed", machine, exc_info=finished.exception())
            self.wake(f"{machine} action finished", pool=spec.pool if spec else None)

        task.add_done_callback(done)

    def _view(self, name: str) -> MachineView:
        spec = self._specs[name]
        record = self.records.get(name, MachineRecord())
        view = MachineView(
            name=name, pool=spec.pool, capacity=self._capacities[name],
            state=record.state, since=record.since,
            boot_seconds=record.expected_boot_seconds(spec.boot_time),
            idle_watts=spec.idle_watts, failures=record.failures,
            backoff_until=record.backoff_until, node=record.kubernetes_node,
            quarantined=record.quarantined, held=spec.held)
        acting = self._acting.get(name)
        return view if acting is None else view.starting(*acting)

    def _signals(self, now: float, pools: list[str]) -> dict[str, PoolSignal]:
        """Each pool's pressure over its Ready nodes and its pending pods, as measured."""
        signals = {}
        for pool in pools:
            nodes = [record.kubernetes_node or name for name in self._by_pool[pool]
                     if (record := self.records.get(name)) is not None
                     and record.state is MachineState.READY]
            for node in nodes:
                self._node_pools[node] = pool
            aggregate = self.pressure.aggregate(nodes, now=now)
            levels, rates = np.zeros(len(RESOURCES)), np.zeros(len(RESOURCES))
            for column, resource in enumerate(PRESSURE_RESOURCES):
                index = RESOURCES.index(resource)
                levels[index] = aggregate.levels[column]
                rates[index] = aggregate.rates[column]
            pending, pods = self.pending.get(pool, (np.zeros(len(RESOURCES)), 0))
            silent = bool(nodes) and aggregate.nodes == 0
            signals[pool] = PoolSignal(levels, rates, pending, pods,
                                       unheard=MEASURED if silent else None)
        return signals
