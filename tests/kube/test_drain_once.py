"""The drainer evicts each pod once: a pod already terminating is only waited for, an
eviction whose answer was lost is not sent again when the pod shows it went through,
an unanswering API server is waited out, and a replica that no longer leads sends no
eviction. A scripted API server counts the evictions; the real one is in
``tests/reliability/test_apiserver_faults.py``."""

from __future__ import annotations

from typing import Any

import pytest

from controller.kube.client import JSON, KubeClient
from controller.kube.draining import Drainer, DrainSettings
from controller.kube.errors import KubeNotFound, KubeUnavailable
from controller.kube.resources import EventRecorder
from controller.leadership import NotLeader

SETTINGS = DrainSettings(timeout=5.0, retry_initial=0.01, retry_max=0.02, poll=0.01)


class PodServer:
    """Pods on node ``n``; an evicted pod terminates, and is gone at the next read.

    ``lose_answers``: that many eviction answers are lost after the eviction is carried
    out (the server died before replying); ``down``: that many requests to pods (reads
    and evictions) find no server."""

    def __init__(self, *, terminating: tuple[str, ...] = (), lose_answers: int = 0,
                 down: int = 0) -> None:
        self.pods = {name: {"metadata": {"name": name, "namespace": "ns", "uid": name,
                                         "ownerReferences": [{"kind": "ReplicaSet",
                                                              "controller": True}]},
                            "spec": {"nodeName": "n", "containers": [{"name": "c"}]},
                            "status": {"phase": "Running"}}
                     for name in ("p1", "p2", "p3")}
        for name in terminating:
            self.pods[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        self.evictions: list[str] = []
        self.lose_answers, self.down = lose_answers, down

    async def request(self, method: str, path: str, **_: Any) -> JSON:
        if self.down and "/pods/" in path:
            self.down -= 1
            raise KubeUnavailable(f"{method} {path}: connection refused")
        if path == "/apis/policy":
            return {"versions": [{"groupVersion": "policy/v1beta1"}]}
        if path.endswith("/eviction"):
            return self._evict(path.split("/")[-2])
        if path == "/api/v1/pods":
            return {"items": list(self.pods.values())}
        if "/pods/" in path:
            return self._read(path.rsplit("/", 1)[-1])
        return {"metadata": {"name": "n"}}  # the node, its cordon, Events

    def _evict(self, name: str) -> JSON:
        self.evictions.append(name)
        self.pods[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        if self.lose_answers:
            self.lose_answers -= 1
            raise KubeUnavailable(f"POST {name}/eviction: server disconnected")
        return {}

    def _read(self, name: str) -> JSON:
        pod = self.pods.get(name)
        if pod is None:
            raise KubeNotFound(name)
        if pod["metadata"].get("deletionTimestamp"):
            del self.pods[name]  # the kubelet finishes it: gone at the next read
        return pod


def _drainer(server: PodServer, *, leading: bool = True) -> Drainer:
    client: KubeClient = server  # type: ignore[assignment]
    return Drainer(client, events=EventRecorder(client), still_leading=lambda: leading)


async def test_a_pod_already_terminating_is_waited_for_not_evicted_again() -> None:
    server = PodServer(terminating=("p2",))
    assert await _drainer(server).drain("n", SETTINGS) == 3
    assert sorted(server.evictions) == ["p1", "p3"]
    assert server.pods == {}


async def test_an_eviction_whose_answer_was_lost_is_not_sent_again() -> None:
    server = PodServer(lose_answers=3)
    await _drainer(server).drain("n", SETTINGS)
    assert sorted(server.evictions) == ["p1", "p2", "p3"]
    assert server.pods == {}


async def test_an_unanswering_api_server_is_waited_out_until_the_deadline() -> None:
    server = PodServer(down=12)
    await _drainer(server).drain("n", SETTINGS)
    assert sorted(server.evictions) == ["p1", "p2", "p3"]
    assert server.down == 0 and server.pods == {}


async def test_a_replica_that_no_longer_leads_sends_no_eviction() -> None:
    server = PodServer()
    with pytest.raises(NotLeader):
        await _drainer(server, leading=False).drain("n", SETTINGS)
    assert server.evictions == []
