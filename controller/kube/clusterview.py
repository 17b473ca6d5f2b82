"""The scheduler's view of the cluster, kept from informers: nothing is listed per decision.

Three caches, each kept current by list and watch: every pod (pending and bound),
every Node, and every PodDisruptionBudget (``policy/v1`` where served, else
``policy/v1beta1``, chosen by discovery). Each object is parsed into the planning
model once per change, and a node's NodeState is rebuilt only when the Node or one
of its pods changed, so a planning pass over a large cluster reads prepared facts.

``scheduling()`` answers with a SchedulingView without the machines' templates and
what is arriving (the reactor adds those from the configuration and the records):
the pending pods per pool (from the PendingTracker, which follows the same pod
informer), the Ready nodes with their pods, the budgets, and one pod shape per
DaemonSet (a new node runs those too, and they take room before any pending pod).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller.kube.client import KubeClient
from controller.kube.discovery import policy_version
from controller.kube.nodes import internal_ips, is_ready
from controller.kube.pending import PendingTracker
from controller.kube.scheduling import learned_from_node, node_state, parse_budget, parse_pod
from controller.kube.watching import Change, Informer, object_key
from controller.planning.constraints import SchedulingView
from controller.planning.disruption import DisruptionBudget
from controller.planning.pods import Pod, PodShape
from controller.planning.scaledown import NodeState
from controller.tasks import Spawn, spawn_task

log = logging.getLogger(__name__)

Learned = Callable[[str, dict[str, float], dict[str, str]], None]
"""(node, allocatable, labels) of a Ready Node, on every change of it."""
Addressed = Callable[[str, tuple[str, ...]], None]
"""(node, InternalIP addresses) of a Ready Node, on every change of it."""


class ClusterView:
    """Pods, Nodes and budgets from informers, parsed once per change."""

    def __init__(self, client: KubeClient, *, tracker: PendingTracker,
                 nodes: Informer | None = None, spawn: Spawn = spawn_task) -> None:
        self.client = client
        self.tracker = tracker
        self.pods = Informer(client, api_version="v1", plural="pods", spawn=spawn)
        self.nodes = nodes or Informer(client, api_version="v1", plural="nodes", spawn=spawn)
        self.budgets: Informer | None = None
        self.budget_version = ""
        self._spawn = spawn
        self._pods: dict[str, Pod] = {}
        self._on_node: dict[str, set[str]] = {}
        """Node name → keys of the pods bound to it."""
        self._states: dict[str, NodeState] = {}
        """Ready node → its NodeState, dropped when the Node or one of its pods changes."""
        self._budgets: dict[str, DisruptionBudget] = {}
        self._learned: list[Learned] = []
        self._addressed: list[Addressed] = []
        self.pods.on_change(self._pod_changed)
        self.nodes.on_change(self._node_changed)

    def on_learned(self, handler: Learned) -> None:
        """Call handler with what each Ready Node reports of itself, as it changes."""
        self._learned.append(handler)

    def on_addresses(self, handler: Addressed) -> None:
        """Call handler with each Ready Node's InternalIP addresses, as they change."""
        self._addressed.append(handler)

    async def start(self) -> None:
        """Discover the budgets' version, then list and watch all three."""
        self.budget_version = await policy_version(self.client)
        self.budgets = Informer(self.client, api_version=self.budget_version,
                                plural="poddisruptionbudgets", spawn=self._spawn)
        self.budgets.on_change(self._budget_changed)
        for informer in (self.pods, self.nodes, self.budgets):
            if informer.resource_version == "":
                await informer.start()
        log.info("cluster view: %d pods, %d nodes, %d budgets (%s)", len(self._pods),
                 len(self.nodes.cache), len(self._budgets), self.budget_version)

    async def close(self) -> None:
        for informer in (self.pods, self.nodes, self.budgets):
            if informer is not None:
                await informer.close()

    # --- the view -------------------------------------------------------------------

    def scheduling(self) -> SchedulingView:
        """Pending pods by pool, Ready nodes with their pods, budgets, DaemonSet shapes."""
        pending: dict[str, list[Pod]] = {pool.name: [] for pool in self.tracker.pools}
        unhostable = []
        for key, waiting in self.tracker.pending.items():
            pod = self._pods.get(key)
            if pod is None:
                continue
            for pool in waiting.pools:
                pending.setdefault(pool, []).append(pod)
            if not waiting.pools:
                unhostable.append(pod)
        return SchedulingView(
            pending={pool: tuple(pods) for pool, pods in pending.items()},
            unhostable=tuple(unhostable), nodes=self._ready_nodes(),
            budgets=tuple(self._budgets.values()), daemons=self._daemons())

    def _ready_nodes(self) -> tuple[NodeState, ...]:
        states = []
        for name, node in self.nodes.cache.items():
            if not is_ready(node) or (node.get("metadata") or {}).get("deletionTimestamp"):
                continue
            state = self._states.get(name)
            if state is None:
                bound = (self._pods[key] for key in self._on_node.get(name, ()))
                state = self._states[name] = node_state(node, bound)
            states.append(state)
        return tuple(states)

    def _daemons(self) -> tuple[PodShape, ...]:
        """One shape per DaemonSet, from its pods running anywhere."""
        shapes: dict[tuple[str, str], PodShape] = {}
        for pod in self._pods.values():
            if pod.owner is not None and pod.owner.kind == "DaemonSet" and pod.node_name:
                shapes.setdefault((pod.namespace, pod.owner.name), pod.shape)
        return tuple(shapes.values())

    # --- informer handlers ----------------------------------------------------------

    def _pod_changed(self, change: Change) -> None:
        key = change.key
        old = self._pods.pop(key, None)
        if old is not None and old.node_name:
            self._on_node.get(old.node_name, set()).discard(key)
            self._states.pop(old.node_name, None)
        if change.type == "DELETED":
            return
        pod = self._pods[key] = parse_pod(change.object)
        if pod.node_name:
            self._on_node.setdefault(pod.node_name, set()).add(key)
            self._states.pop(pod.node_name, None)

    def _node_changed(self, change: Change) -> None:
        name = change.key
        self._states.pop(name, None)
        if change.type == "DELETED" or not is_ready(change.object):
            return
        allocatable, labels = learned_from_node(change.object)
        for handler in self._learned:
            handler(name, allocatable, labels)
        addresses = internal_ips(change.object)
        for addressed in self._addressed:
            addressed(name, addresses)

    def _budget_changed(self, change: Change) -> None:
        key = object_key(change.object)
        if change.type == "DELETED":
            self._budgets.pop(key, None)
            return
        self._budgets[key] = parse_budget(change.object, api_version=self.budget_version)

