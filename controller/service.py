"""The controller service: every part wired together, started in order, stopped in reverse.

What runs on every replica: the HTTP server (agents' ingest, /metrics, /healthz,
/readyz, /explain) and the leader election. What runs only on the leader: the
machine records (loaded from BareMetalNode status, or the state file), the pod
informer and pending-pod tracker, the configuration watcher and the reactor that
plans and acts. A replica that loses leadership stops acting at once and exits,
so it restarts clean as a standby (client-go's convention); the records say where
each machine was, and the new leader resumes without repeating a call.

Events reach the reactor without any scan: pending-pod snapshots from the pod
informer, threshold crossings from ingest (``controller.triggers``), machine
record changes from the actuator, and configuration changes from the holder the
reloader replaces (``controller.config.holder``): every part that derives state
from the configuration subscribes to it, the others read it when they act.

Every background loop is a root task of one ``Supervisor``
(``controller.supervision``). The first to end unexpectedly ends the process with
exit 1 after the same orderly shutdown as a stop: one AsyncExitStack unwinds
newest-first, then the supervisor cancels whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from controller import fleetstate
from controller.actuation import Actuator
from controller.config import (
    AutoscalerConfig,
    ConfigError,
    ConfigHolder,
    MachineSpec,
    SettingsError,
    load_config,
    load_config_text,
    render_config,
)
from controller.energy import EnergyMeter, energy_status
from controller.evaluator import TriggerEvaluator
from controller.history import HistoryFile
from controller.http import build_app
from controller.ingest import (
    FORGET_AFTER,
    Authenticator,
    FirstAuthenticator,
    IngestServer,
    NodeRetention,
    PressureStore,
    TokenAuthenticator,
    load_tokens,
)
from controller.kube.client import KubeClient
from controller.kube.cluster import KubeCluster
from controller.kube.clusterview import ClusterView
from controller.kube.configmaps import ConfigMapWatcher, parse_reference, read_configmap
from controller.kube.errors import KubeError, KubeNotFound
from controller.kube.inventory import DeclaredMachines
from controller.kube.leader import LeaderElector, LeaseTimings
from controller.kube.nodepools import NodePoolWriter
from controller.kube.notices import ScaleUpNotices
from controller.kube.pending import PendingSnapshot, PendingTracker
from controller.kube.records import BareMetalNodeStore
from controller.kube.resources import BareMetalNodes, NodePools, read_secret
from controller.kube.tokenreview import TokenReviewAuthenticator
from controller.kube.warmup import WarmUps
from controller.kube.watching import Informer
from controller.lostnodes import LOST_AFTER, LostNodeWatcher
from controller.machines import FileMachineStore, MachineRecord, MachineStore, machine_of_node
from controller.metrics import ControllerMetrics
from controller.planning import Action, ActionKind, MachineState
from controller.power import DRIVERS, MachinePower, neighbours, unwakeable
from controller.power.cache import MachinePowerCache
from controller.powersync import PowerSync
from controller.reactor import Reactor
from controller.reload import ConfigReloader, FileWatcher
from controller.supervision import Supervisor
from controller.tasks import cancel_and_wait
from controller.triggers import CrossingDetector
from wire import HostFacts, PressureSample

log = logging.getLogger(__name__)

LEASE_NAME = "bamel-controller"
POOL_STATUS_EVERY = 0.5
NEIGHBOURS_EVERY = 60.0
"""Seconds between two neighbour-table lookups for one machine: its Node changes with
every heartbeat, and an answer that was not there seconds ago rarely is now."""
"""Seconds a burst of changes is gathered before NodePool statuses are written."""


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


@dataclass(frozen=True)
class ServiceSettings:
    """How one controller process runs; the autoscaling policy is in the config document."""

    config_file: Path | None = None
    """The AutoscalerConfig YAML; watched for changes."""
    configmap: str | None = None
    """``namespace/name`` of a ConfigMap holding the config under ``config.yaml``."""
    kubeconfig: str | None = None
    """None: $KUBECONFIG, else the in-cluster service account."""
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    agent_tokens: Path | None = None
    """Node → token: a mounted Secret directory or a YAML/JSON mapping file."""
    token_review: bool = False
    """Also accept agents' own pod-bound ServiceAccount tokens, checked by TokenReview."""
    agent_service_account: str = "bamel-system/bamel-agent"
    """``namespace/name`` of the agents' ServiceAccount, for TokenReview."""
    namespace: str = "bamel-system"
    """Where the leader-election Lease lives (Events of cluster-scoped objects go to
    ``default``, the only namespace the API server accepts for them)."""
    identity: str = field(default_factory=_default_identity)
    leader_elect: bool = True
    lease: LeaseTimings = field(default_factory=LeaseTimings)
    state_file: Path | None = None
    """No-CRD mode: machine records in this JSON file instead of BareMetalNode status."""
    dry_run: bool = False
    once: bool = False
    once_settle: float = 3.0
    """--once: seconds to gather agent samples and pending pods before the one pass."""
    join_poll: float = 0.5
    """Seconds between reads of a joining machine's Node."""
    node_lost_after: float = LOST_AFTER
    """Seconds a Ready machine's Node may stay NotReady or missing before it is lost."""
    forget_nodes_after: float = FORGET_AFTER
    """Seconds an agent may stay silent before its node's pressure state is forgotten
    (``controller.ingest.retention`` says why ten minutes)."""


class ControllerService:
    """``run()`` serves until ``stop()``, a lost leadership, or (with --once) one pass."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.metrics = ControllerMetrics()
        self.pressure = PressureStore()
        self.records: dict[str, MachineRecord] = {}
        self.port = settings.listen_port
        """The bound port (differs from the setting when that is 0)."""
        self.supervisor = Supervisor()
        """Owns every root task; the first to fail ends run()."""
        self._stop = asyncio.Event()
        self._pools_changed = asyncio.Event()
        self._leading = not settings.leader_elect
        self.elector: LeaderElector | None = None
        self._records_loaded = False
        self._early_hosts: dict[str, HostFacts] = {}
        """Host frames that came before this replica led (one a node, the last): a
        frame is sent once a connection, so they are learned when it takes over."""
        self._asked_neighbours: dict[str, float] = {}
        """Machine → when the neighbour table was last asked for its MAC (monotonic)."""
        """Learning waits for the records: a detail learnt before would be overwritten."""
        self._metering = False
        """The energy meter runs: record changes step it."""
        self._lost = False
        """Leadership was lost: the energy totals are not written on the way out."""

    def stop(self) -> None:
        """Ask run() to return (signal handlers call this)."""
        self._stop.set()

    async def run(self) -> int:
        """0 after stop() or --once, 1 when leadership was lost or a root task failed."""
        file_config = self._file_config()  # a bad file fails before any connection
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.supervisor.close)  # last: what the rest left
            self.client = await KubeClient.connect(self.settings.kubeconfig)
            stack.push_async_callback(self.client.close)
            config = file_config or await self._configmap_config()
            self._announce(config)
            self._build(config)
            stack.push_async_callback(self.power.close)
            await self._serve_http(stack)
            retention = self.supervisor.spawn(self.retention.run(), name="node-retention")
            stack.push_async_callback(cancel_and_wait, retention)
            elector = await self._elect(stack)
            if elector is not None and not await self._first(elector.leading.wait()):
                return self._ended()
            self._leading = True
            self.metrics.leader.set(1)
            await self._take_over(stack)
            if self.settings.once:
                await self._once()
                return self._ended()
            return await self._lead(stack, elector)
        raise AssertionError("unreachable")

    # --- assembly -------------------------------------------------------------------

    def _file_config(self) -> AutoscalerConfig | None:
        if self.settings.configmap:
            return None
        if self.settings.config_file is None:
            raise SettingsError("either a config file or a ConfigMap is required")
        return load_config(self.settings.config_file, drivers=DRIVERS)

    async def _configmap_config(self) -> AutoscalerConfig:
        assert self.settings.configmap is not None
        namespace, name = parse_reference(self.settings.configmap)
        try:
            text = await read_configmap(self.client, namespace, name)
        except KeyError as error:
            raise ConfigError([error.args[0]]) from error
        return load_config_text(text, drivers=DRIVERS)

    def _announce(self, config: AutoscalerConfig) -> None:
        if self.settings.dry_run:
            log.warning("DRY RUN: decisions are made and logged; no power call, no eviction")
        log.info("effective configuration:\n%s", render_config(config),
                 extra={"config": json.loads(config.model_dump_json(by_alias=True))})

    def _build(self, config: AutoscalerConfig) -> None:
        self.store: MachineStore = (FileMachineStore(self.settings.state_file)
                                    if self.settings.state_file
                                    else BareMetalNodeStore(BareMetalNodes(self.client),
                                                            held=self._held))
        self.config = ConfigHolder(config)
        self.declared: DeclaredMachines | None = None
        self._holds = {m.name: m.power_state for m in config.machines}
        self._document = config
        """The document the last reconfiguration saw (a new one may accept a refused
        declaration)."""
        self.reloader = ConfigReloader(self.config, metrics=self.metrics)
        self.cluster = KubeCluster(self.client, config=self.config,
                                   last_in_pool=self._last_in_pool,
                                   join_poll=self.settings.join_poll,
                                   still_leading=self._still_leading)
        self.power = MachinePowerCache(secret_reader=self._read_secret)
        self.actuator = Actuator(
            config=config, store=self.store, records=self.records, power_for=self._power_for,
            cluster=self.cluster, clock=time.time, metrics=self.metrics,
            dry_run=self.settings.dry_run, events=self.cluster,
            forget_power=self.power.forget, on_change=self._machine_changed,
            still_leading=self._still_leading)
        self.evaluator = TriggerEvaluator(config, metrics=self.metrics, clock=time.time,
                                          wake=self._trigger_changed, event=self._pool_event)
        history = (HistoryFile.beside(self.settings.state_file) if self.settings.state_file
                   else None)
        self.reactor = Reactor(config=config, actuator=self.actuator, records=self.records,
                               pressure=self.pressure, metrics=self.metrics, clock=time.time,
                               triggers=self.evaluator.facts, history=history)
        self.power_sync = PowerSync(
            config=lambda: self.config.current, actuator=self.actuator,
            power_for=self._power_for, busy=self.reactor.busy,
            restore=self.reactor.restore_power, events=self.cluster, metrics=self.metrics,
            forget_power=self.power.forget)
        self.energy = EnergyMeter(
            config=lambda: self.config.current, records=self.records,
            cpu_level=self._cpu_level, metrics=self.metrics, power_for=self._power_for,
            amend=None if self.settings.dry_run else self.actuator.amend,
            persisted=self._pools_changed.set)
        self.detector = CrossingDetector(config)
        self.ingest = IngestServer(store=self.pressure, authenticator=self._authenticator(),
                                   metrics=self.metrics, on_sample=self._sampled,
                                   crossed=self.detector.crossed, on_host=self._hosted,
                                   clock=time.time)
        self.retention = NodeRetention(self.pressure,
                                       forget_after=self.settings.forget_nodes_after,
                                       on_forget=self.detector.forget, clock=time.time)
        self.tracker = PendingTracker(config.pools, spawn=self.supervisor.spawn)
        for subscriber in (self.actuator.reconfigure, self.reactor.reconfigure,
                           self.detector.reconfigure, self.tracker.reconfigure,
                           self.evaluator.reconfigure, self._reconfigured):
            self.config.subscribe(subscriber)

    def _authenticator(self) -> Authenticator:
        tokens = self._tokens()
        chain: list[Authenticator] = [TokenAuthenticator(tokens)]
        if self.settings.token_review:
            chain.append(TokenReviewAuthenticator(
                self.client, service_account=self.settings.agent_service_account))
        elif not tokens:
            log.warning("no agent tokens and no TokenReview: every agent stream is refused")
        return FirstAuthenticator(chain)

    def _tokens(self) -> dict[str, str]:
        path = self.settings.agent_tokens
        if path is None:
            return {}
        try:
            return load_tokens(path)
        except (OSError, ValueError) as error:
            raise SettingsError(f"--agent-tokens {path}: {error}") from error

    async def _serve_http(self, stack: contextlib.AsyncExitStack) -> None:
        app = build_app(ingest=self.ingest, metrics=self.metrics, reactor=self.reactor,
                        unhealthy=self.supervisor.unhealthy, ready=lambda: self._leading)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        stack.push_async_callback(self.ingest.close)
        host, port = self.settings.listen_host, self.settings.listen_port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise SettingsError(f"--listen {host}:{port}: {error.strerror}") from error
        for address in runner.addresses:
            self.port = int(address[1])
        log.info("serving on %s:%d", self.settings.listen_host, self.port)

    async def _elect(self, stack: contextlib.AsyncExitStack) -> LeaderElector | None:
        if not self.settings.leader_elect:
            return None
        elector = LeaderElector(self.client, name=LEASE_NAME, namespace=self.settings.namespace,
                                identity=self.settings.identity, timings=self.settings.lease,
                                spawn=self.supervisor.spawn)
        await elector.start()
        stack.push_async_callback(elector.close)
        self.elector = elector
        log.info("%s waiting for leadership of %s/%s", self.settings.identity,
                 self.settings.namespace, LEASE_NAME)
        return elector

    async def _take_over(self, stack: contextlib.AsyncExitStack) -> None:
        """As leader: load the records, follow pods and the configuration."""
        config = self.config.current
        if isinstance(self.store, BareMetalNodeStore):
            await self.store.ensure(config.machines)
            self.node_pools = NodePoolWriter(self.client)
            await self.node_pools.ensure(config.pools)
            writer = self.supervisor.spawn(self._publish_pools(), name="nodepool-status")
            stack.push_async_callback(cancel_and_wait, writer)
        self.records.update(await self.store.load())
        self._records_loaded = True
        early, self._early_hosts = self._early_hosts, {}
        for facts in early.values():
            self._learn_host(facts)
        if isinstance(self.store, BareMetalNodeStore):
            await self._follow_declared(stack)
        self._publish_fleet()
        self._warn_unwakeable()
        nodes = Informer(self.client, api_version="v1", plural="nodes",
                         spawn=self.supervisor.spawn)
        await self._see_cluster(stack, nodes)
        await self.tracker.start()
        stack.push_async_callback(self.tracker.close)
        self._feed_pending(self.tracker.snapshot())
        watcher = self._config_watcher()
        await watcher.start()
        stack.push_async_callback(watcher.close)
        self._follow_nodes(stack, nodes)
        pump = self.supervisor.spawn(self._pump_pending(), name="pending-pump")
        stack.push_async_callback(cancel_and_wait, pump)
        stack.push_async_callback(self.reactor.close)

    async def _follow_declared(self, stack: contextlib.AsyncExitStack) -> None:
        """Machines declared as BareMetalNode objects join the configuration in force."""
        self.declared = DeclaredMachines(
            self.client, reloader=self.reloader, events=self.cluster.events, drivers=DRIVERS,
            power_off=self._power_off, accepted=self._declared, spawn=self.supervisor.spawn)
        await self.declared.start()
        stack.push_async_callback(self.declared.close)

    async def _power_off(self, name: str, reason: str) -> None:
        """Drain and power off a machine now, by the actuator's own path."""
        spec = next(m for m in self.config.current.machines if m.name == name)
        await self.actuator.execute(Action(ActionKind.POWER_OFF, name, spec.pool, reason))

    def _declared(self, name: str) -> None:
        """A declaration was accepted: write its status (record and conditions)."""
        self._persist(name)

    def _persist(self, name: str) -> None:
        self.records.setdefault(name, MachineRecord())
        write = _kube_errors_logged(self.actuator.persist(name), f"the status of {name}")
        self.supervisor.spawn(write, once=True, name=f"status {name}")

    async def _see_cluster(self, stack: contextlib.AsyncExitStack, nodes: Informer) -> None:
        """Pods, Nodes and budgets in informers: the scheduler's view every pass reads,
        the pending pods the tracker follows, what Ready machines report of themselves."""
        view = ClusterView(self.client, tracker=self.tracker, nodes=nodes,
                           spawn=self.supervisor.spawn)
        view.pods.on_change(self.tracker.observe)
        view.on_learned(self._learn_node)
        view.on_addresses(self._learn_addresses)
        warm_ups = self._warm_ups(view)
        await view.start()
        stack.push_async_callback(view.close)
        await warm_ups.start()
        stack.push_async_callback(warm_ups.close)
        self.notices = ScaleUpNotices(self.cluster.events, pods=view.pods.cache,
                                      spawn=self.supervisor.spawn)
        await self.notices.start()
        stack.push_async_callback(self.notices.close)
        self.reactor.see_cluster(view.scheduling, self._unplaceable)

    def _warm_ups(self, view: ClusterView) -> WarmUps:
        """Image warm-up after each join (controller.kube.warmup), from the view's caches;
        it follows its own pods through the view's pod informer, leftovers included."""
        warm_ups = WarmUps(
            self.client, namespace=self.settings.namespace,
            config=lambda: self.config.current, pods=view.pods.cache, nodes=view.nodes.cache,
            tally=lambda pool, outcome: self.metrics.warm_ups.labels(pool, outcome).inc(),
            spawn=self.supervisor.spawn)
        view.pods.on_change(warm_ups.observe)
        self.cluster.on_joined(warm_ups.joined)
        return warm_ups

    def _follow_nodes(self, stack: contextlib.AsyncExitStack, nodes: Informer) -> None:
        """Notice Ready machines whose Node goes away on its own (controller.lostnodes)."""
        lost = LostNodeWatcher(self.records, self.reactor.node_lost,
                               lost_after=self.settings.node_lost_after, nodes=nodes.cache)
        nodes.on_change(lost.observe)
        stack.callback(lost.close)

    def _config_watcher(self) -> FileWatcher | ConfigMapWatcher:
        if self.settings.configmap:
            namespace, name = parse_reference(self.settings.configmap)
            return ConfigMapWatcher(self.client, namespace=namespace, name=name,
                                    reloader=self.reloader, events=self.cluster.events,
                                    spawn=self.supervisor.spawn)
        assert self.settings.config_file is not None
        return FileWatcher(self.settings.config_file, self.reloader,
                           spawn=self.supervisor.spawn)

    # --- running --------------------------------------------------------------------

    async def _lead(self, stack: contextlib.AsyncExitStack,
                    elector: LeaderElector | None) -> int:
        """Run the reactor until stop(), a failed root task, or lost leadership."""
        reactor = self.supervisor.spawn(self.reactor.run(), name="reactor")
        stack.push_async_callback(cancel_and_wait, reactor)
        stack.callback(self.evaluator.close)
        evaluator = self.supervisor.spawn(self.evaluator.run(), name="trigger-evaluator")
        stack.push_async_callback(cancel_and_wait, evaluator)
        if not self.settings.dry_run:  # its adoption and quarantine write records
            sync = self.supervisor.spawn(self.power_sync.run(), name="power-sync")
            stack.push_async_callback(cancel_and_wait, sync)
        meter = self.supervisor.spawn(self.energy.run(), name="energy-meter")
        self._metering = True
        stack.push_async_callback(self._stop_metering, meter)
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lost = await self._first(elector.lost.wait() if elector is not None else never)
        self._leading = False
        self.metrics.leader.set(0)
        self._lost = lost
        if lost:
            log.error("leadership lost: exiting so this replica restarts as a standby")
            return 1
        return self._ended()

    async def _stop_metering(self, meter: asyncio.Task[None]) -> None:
        """Stop the meter and write its totals once more, unless leadership was lost
        (the new leader writes the records now)."""
        self._metering = False
        await cancel_and_wait(meter)
        if not self._lost:
            await _kube_errors_logged(self.energy.persist(), "the energy totals")

    def _ended(self) -> int:
        """The exit code once stop() or a root task's failure ended the wait."""
        if self.supervisor.failures:
            log.error("stopping after a failure: %s", self.supervisor.failures[0])
            return 1
        log.info("stopping")
        return 0

    async def _once(self) -> None:
        """Gather for a moment, plan one pass, finish its actions, print the decisions."""
        await self._first(asyncio.sleep(self.settings.once_settle))
        if self.supervisor.failures:
            return
        self._feed_pending(self.tracker.snapshot())
        await self.evaluator.evaluate_once()
        self.evaluator.close()
        result = self.reactor.plan_once()
        await self.reactor.settle()
        for record in result.records:
            print(json.dumps(record.as_dict(), default=str), file=sys.stdout, flush=True)

    async def _first(self, awaitable: Awaitable[object]) -> bool:
        """Await awaitable unless stop() or a root task's failure comes first; True when
        it finished."""
        work: asyncio.Future[object] = asyncio.ensure_future(awaitable)
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop.wait()),
                                           asyncio.ensure_future(self.supervisor.failed())]
        done, _ = await asyncio.wait([work, *ends], return_when=asyncio.FIRST_COMPLETED)
        for task in (work, *ends):
            await _cancel(task)
        return work in done and not self.supervisor.failures

    async def _pump_pending(self) -> None:
        while True:
            self._feed_pending(await self.tracker.snapshots.get())

    def _feed_pending(self, snapshot: PendingSnapshot) -> None:
        for pool, demand in snapshot.pools.items():
            self.reactor.set_pending(pool, demand.requests, len(demand.pods))
        self._pools_changed.set()

    async def _publish_pools(self) -> None:
        """Write NodePool statuses after changes, at most every POOL_STATUS_EVERY seconds."""
        while True:
            await self._pools_changed.wait()
            await asyncio.sleep(POOL_STATUS_EVERY)
            self._pools_changed.clear()
            config = self.config.current
            for pool in config.pools:
                pending = self.reactor.pending.get(pool.name, ((), 0))
                status = fleetstate.pool_status(config, pool.name, self.records,
                                                (list(pending[0]), pending[1]))
                status["energy"] = energy_status(self.energy.pool_totals(pool.name))
                try:
                    await self.node_pools.write(pool.name, status)
                except KubeError as error:
                    log.warning("NodePool %s status not written: %s", pool.name, error)

    # --- callbacks ------------------------------------------------------------------

    def _sampled(self, sample: PressureSample, crossed: bool) -> None:
        if not self._leading:
            return
        if crossed:
            self.reactor.wake_for_node(sample.node, f"pressure crossing on {sample.node}")
        if self._records_loaded:
            self._learn(sample)

    def _learn(self, sample: PressureSample) -> None:
        """Keep the MACs a machine's agent reports with its record (see Actuator.learn)."""
        names = (spec.name for spec in self.config.current.machines)
        machine = machine_of_node(sample.node, names, self.records)
        if machine is not None and self.actuator.learn(machine, sample.macs):
            log.info("%s: its agent reports MACs %s", machine, ", ".join(sample.macs))
            write = _kube_errors_logged(self.actuator.persist(machine),
                                        f"the MACs learnt for {machine}")
            self.supervisor.spawn(write, once=True, name=f"learned {machine}")

    def _hosted(self, facts: HostFacts) -> None:
        """Keep what a machine's agent says of the machine (DMI identity, addresses)."""
        if self._records_loaded:
            self._learn_host(facts)
        else:
            self._early_hosts[facts.node] = facts

    def _learn_host(self, facts: HostFacts) -> None:
        names = (spec.name for spec in self.config.current.machines)
        machine = machine_of_node(facts.node, names, self.records)
        if machine is not None and self.actuator.learn_host(machine, facts.dmi,
                                                            facts.addresses):
            log.info("%s: its agent reports %s at %s", machine,
                     " ".join(facts.dmi.values()) or "no DMI identity",
                     ", ".join(facts.addresses) or "no address")
            write = _kube_errors_logged(self.actuator.persist(machine),
                                        f"the host details learnt for {machine}")
            self.supervisor.spawn(write, once=True, name=f"learned host {machine}")

    def _learn_node(self, node: str, allocatable: dict[str, float],
                    labels: dict[str, str]) -> None:
        """Keep what a machine's Ready Node reports with its record (its template)."""
        if not self._records_loaded:
            return
        names = (spec.name for spec in self.config.current.machines)
        machine = machine_of_node(node, names, self.records)
        if machine is not None and self.actuator.learn_node(machine, allocatable, labels):
            write = _kube_errors_logged(self.actuator.persist(machine),
                                        f"the Node details learnt for {machine}")
            self.supervisor.spawn(write, once=True, name=f"learned node {machine}")

    def _learn_addresses(self, node: str, ips: tuple[str, ...]) -> None:
        """Keep the IPs a machine's Ready Node reports; for a Wake-on-LAN machine with no
        MAC from anywhere else, ask the neighbour table for the MAC behind them."""
        if not self._records_loaded:
            return
        names = (spec.name for spec in self.config.current.machines)
        machine = machine_of_node(node, names, self.records)
        if machine is None:
            return
        if self.actuator.learn_ips(machine, ips):
            write = _kube_errors_logged(self.actuator.persist(machine),
                                        f"the IPs learnt for {machine}")
            self.supervisor.spawn(write, once=True, name=f"learned ips {machine}")
        if ips and self._needs_mac(machine):
            self._asked_neighbours[machine] = time.monotonic()
            self.supervisor.spawn(self._neighbour_mac(machine, ips), once=True,
                                  name=f"neighbour mac {machine}")

    def _needs_mac(self, machine: str) -> bool:
        """A Wake-on-LAN machine with no MAC anywhere, not asked about for a minute (its
        Node changes with every heartbeat)."""
        if time.monotonic() - self._asked_neighbours.get(machine, -NEIGHBOURS_EVERY) \
                < NEIGHBOURS_EVERY:
            return False
        config = self.config.current
        spec = next((m for m in config.machines if m.name == machine), None)
        if spec is None or spec.power.on.driver != "wol":
            return False
        alone = config.model_copy(update={"machines": [spec]})
        learned = {machine: self.records.get(machine, MachineRecord()).macs}
        return any(True for _ in unwakeable(alone, learned))

    async def _neighbour_mac(self, machine: str, ips: tuple[str, ...]) -> None:
        """The MAC behind the machine's IPs in the neighbour table, learnt as if its
        agent had reported it (``controller.power.neighbours``)."""
        macs = tuple(mac for mac in [await neighbours.mac_of(ip) for ip in ips] if mac)
        if not macs:
            log.warning("%s: no MAC for %s in the neighbour table", machine, ", ".join(ips))
            return
        if self.actuator.learn(machine, macs):
            log.info("%s: MAC %s from the neighbour table", machine, ", ".join(macs))
            await _kube_errors_logged(self.actuator.persist(machine),
                                      f"the MACs found for {machine}")

    def _unplaceable(self, pool: str, pods: Mapping[str, str]) -> None:
        """Pods that powered nothing on in the last pass: a metric and an Event each."""
        self.metrics.unplaceable_pods.labels(pool).set(len(pods))
        self.notices.note(pods)

    async def _power_for(self, spec: MachineSpec) -> MachinePower:
        """The machine's drivers, given the MACs its agent reported (Wake-on-LAN's fallback)."""
        learned = self.records.get(spec.name, MachineRecord()).macs
        return await self.power.get(spec, learned_macs=learned)

    def _warn_unwakeable(self) -> None:
        """Say which Wake-on-LAN machines have no MAC yet (not an error: see ``unwakeable``)."""
        learned = {name: record.macs for name, record in self.records.items()}
        for warning in unwakeable(self.config.current, learned):
            log.warning("%s", warning)

    def _trigger_changed(self, pool: str, reason: str) -> None:
        self.reactor.wake(reason, pool=pool)

    async def _pool_event(self, pool: str, reason: str, message: str, warning: bool) -> None:
        """An Event on the pool's NodePool (by name alone when it has none: no CRDs)."""
        try:
            target = await NodePools(self.client).get(pool)
        except KubeError:
            target = {"apiVersion": "bamel.io/v1alpha1", "kind": "NodePool",
                      "metadata": {"name": pool}}
        await self.cluster.events.record(target, reason, message, warning=warning)

    def _still_leading(self) -> bool:
        """The gate of every power call and eviction (``controller.leadership``)."""
        return self.elector.still_leading() if self.elector is not None else self._leading

    def _machine_changed(self, name: str) -> None:
        self._publish_fleet(machine=name)
        if self._metering:  # the old draw ends now, the new one starts
            self.energy.step()
        self._pools_changed.set()
        self.reactor.wake_for_machine(name, f"{name} changed state")

    def _reconfigured(self, config: AutoscalerConfig) -> None:
        """The service's own subscriber: objects for new machines and pools, statuses."""
        document = self.reloader.document
        new_document, self._document = document is not self._document, document
        if isinstance(self.store, BareMetalNodeStore) and self._leading:
            if self.declared is not None and new_document:
                self.declared.document_changed()
            for name in self._hold_changed(config):
                self._persist(name)
            for kind, ensure in (("BareMetalNodes", self.store.ensure(document.machines)),
                                 ("NodePools", self.node_pools.ensure(config.pools))):
                work = _kube_errors_logged(ensure, f"{kind} of the new configuration")
                self.supervisor.spawn(work, once=True, name=f"ensure {kind}")
        self._pools_changed.set()
        self._publish_fleet()
        self._warn_unwakeable()

    def _held(self, name: str) -> str | None:
        """The machine's ``powerState`` when a person holds it (for its conditions)."""
        spec = next((m for m in self.config.current.machines if m.name == name), None)
        return spec.held if spec is not None else None

    def _hold_changed(self, config: AutoscalerConfig) -> list[str]:
        """Managed machines whose ``powerState`` changed: their conditions say it."""
        before = self._holds
        self._holds = {m.name: m.power_state for m in config.machines}
        return [name for name, state in self._holds.items()
                if name in before and before[name] != state and name in self.records]

    def _publish_fleet(self, machine: str | None = None) -> None:
        fleetstate.publish(self.metrics, self.config.current, self.records, self._cpu_level,
                           machine=machine)

    def _cpu_level(self, node: str) -> float:
        """The node's CPU pressure level (0 when its agent has not reported)."""
        return (self.pressure.node_levels(node) or {}).get("cpu", 0.0)

    def _last_in_pool(self, machine: MachineSpec) -> bool:
        """No other machine of machine's pool is ready."""
        return not any(
            spec.pool == machine.pool and spec.name != machine.name
            and self.records.get(spec.name, MachineRecord()).state is MachineState.READY
            for spec in self.config.current.machines)

    async def _read_secret(self, name: str, namespace: str) -> dict[str, bytes]:
        try:
            return await read_secret(self.client, namespace, name)
        except KubeNotFound as error:
            raise KeyError(name) from error


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _kube_errors_logged(work: Coroutine[Any, Any, None], what: str) -> None:
    """Writing what to the cluster: a refusal of the API server is logged (the next
    reload, restart or agent report tries again); any other error is a bug for the
    supervisor."""
    try:
        await work
    except KubeError as error:
        log.warning("%s not all written: %s", what, error)
