"""LostNodeWatcher: a Ready machine's Node that stays away is reported once, after the wait."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.kube.watching import Change, ChangeType
from controller.lostnodes import LostNodeWatcher
from controller.machines import MachineRecord
from controller.planning import MachineState


def _node(name: str, ready: str, reason: str = "NodeStatusUnknown") -> dict[str, Any]:
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason}]}}


def _change(kind: ChangeType, node: dict[str, Any]) -> Change:
    return Change(type=kind, object=node, old=None)


def _watcher(records: dict[str, MachineRecord], nodes: dict[str, Any] | None = None
             ) -> tuple[LostNodeWatcher, list[tuple[str, str]]]:
    reports: list[tuple[str, str]] = []
    watcher = LostNodeWatcher(records, lambda machine, reason: reports.append((machine, reason)),
                              lost_after=0.2, nodes=nodes)
    return watcher, reports


def _ready(node: str = "") -> MachineRecord:
    return MachineRecord(state=MachineState.READY, since=0.0, kubernetes_node=node)


async def test_a_node_not_ready_past_the_wait_is_reported_once() -> None:
    watcher, reports = _watcher({"m1": _ready("node-1")})
    watcher.observe(_change("MODIFIED", _node("node-1", "Unknown")))
    watcher.observe(_change("MODIFIED", _node("node-1", "Unknown")))  # still down: one timer
    await asyncio.sleep(0.4)
    assert reports == [("m1", "node node-1 is not Ready (NodeStatusUnknown) for over 0.2s")]


async def test_a_node_that_recovers_in_time_is_not_reported() -> None:
    watcher, reports = _watcher({"m1": _ready()})
    watcher.observe(_change("MODIFIED", _node("m1", "False", "KubeletNotReady")))
    await asyncio.sleep(0.05)
    watcher.observe(_change("MODIFIED", _node("m1", "True")))
    await asyncio.sleep(0.3)
    assert reports == []


async def test_a_deleted_node_is_reported_by_machine_name() -> None:
    watcher, reports = _watcher({"m1": _ready()})
    watcher.observe(_change("DELETED", _node("m1", "True")))
    await asyncio.sleep(0.4)
    assert reports == [("m1", "node m1 was deleted for over 0.2s")]


async def test_machines_that_are_not_ready_or_taken_over_are_left_alone() -> None:
    records = {"off": MachineRecord(state=MachineState.OFF), "m1": _ready()}
    watcher, reports = _watcher(records)
    watcher.observe(_change("MODIFIED", _node("off", "False")))
    watcher.observe(_change("MODIFIED", _node("m1", "False")))
    records["m1"] = MachineRecord(state=MachineState.DRAINING)  # a drain took it over
    await asyncio.sleep(0.4)
    assert reports == []


async def test_the_cache_is_read_again_when_the_wait_ends() -> None:
    nodes: dict[str, Any] = {}
    watcher, reports = _watcher({"m1": _ready()}, nodes)
    watcher.observe(_change("MODIFIED", _node("m1", "False")))
    nodes["m1"] = _node("m1", "True")  # recovered, its event not handled yet
    await asyncio.sleep(0.4)
    assert reports == []
    watcher.close()
