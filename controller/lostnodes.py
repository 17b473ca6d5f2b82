"""Ready machines whose Node stops being Ready on its own: noticed, waited out, marked lost.

A machine the controller brought up stays "ready" in its record until the controller
itself drains it. If it crashes, hangs or is switched off by hand, its Node goes
NotReady (the node-lifecycle controller marks it once the kubelet stops reporting)
or is deleted, and the pool would go on counting capacity that is not there. The
watcher follows the Node informer: a machine whose Node has not been Ready for
``lost_after`` seconds is handed to the reactor as lost, which records it in the
error state with the reason (and a backoff), so the planner stops counting it and
powers on another if the pressure asks. A Node that recovers in time cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from controller.kube.client import JSON
from controller.kube.nodes import is_ready, ready_condition
from controller.kube.watching import Change
from controller.machines import MachineRecord
from controller.planning import MachineState

log = logging.getLogger(__name__)

LOST_AFTER = 180.0
"""Seconds a Ready machine's Node may stay NotReady (or missing) before it is lost.
Kubernetes itself starts evicting pods from a NotReady node after 300 s."""


class LostNodeWatcher:
    """``observe`` every Node change; ``report(machine, reason)`` once one is lost."""

    def __init__(self, records: Mapping[str, MachineRecord],
                 report: Callable[[str, str], None], *, lost_after: float = LOST_AFTER,
                 nodes: Mapping[str, JSON] | None = None) -> None:
        self.records = records
        self.report = report
        self.lost_after = lost_after
        self.nodes = nodes
        """The informer's cache (node name → Node), read again when the wait ends."""
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def observe(self, change: Change) -> None:
        """Start the wait for a Ready machine's Node that is not Ready; end it when it is.

        Kubelets report often and nearly always Ready: that case is one dictionary
        lookup, and only a Node that is not Ready is matched to its machine.
        """
        node = str(change.object.get("metadata", {}).get("name", ""))
        if change.type != "DELETED" and is_ready(change.object):
            self._cancel(node)
            return
        if node in self._timers:
            return
        machine = self._machine_of(node)
        if machine is None:
            return
        why = _why(change)
        log.warning("%s: node %s %s; lost unless it recovers within %.0fs",
                    machine, node, why, self.lost_after)
        self._timers[node] = asyncio.get_running_loop().call_later(
            self.lost_after, self._expire, node, why)

    def close(self) -> None:
        for node in list(self._timers):
            self._cancel(node)

    def _expire(self, node: str, why: str) -> None:
        self._timers.pop(node, None)
        if self.nodes is not None and node in self.nodes and is_ready(self.nodes[node]):
            return
        machine = self._machine_of(node)
        if machine is None:
            return  # an action took it over (a drain, a power-off): not lost
        self.report(machine, f"node {node} {why} for over {self.lost_after:g}s")

    def _machine_of(self, node: str) -> str | None:
        """The Ready machine running node: by its recorded Node name, else by name."""
        for name, record in self.records.items():
            if record.state is MachineState.READY and (record.kubernetes_node or name) == node:
                return name
        return None

    def _cancel(self, node: str) -> None:
        timer = self._timers.pop(node, None)
        if timer is not None:
            timer.cancel()


def _why(change: Change) -> str:
    if change.type == "DELETED":
        return "was deleted"
    condition = ready_condition(change.object) or {}
    reason = condition.get("reason") or "no Ready condition"
    return f"is not Ready ({reason})"
