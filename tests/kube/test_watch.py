"""Informers resume from their resourceVersion and relist after 410 Gone."""

from __future__ import annotations

import asyncio

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.watching import Change, Informer
from lab.controlplane import ControlPlane
from tests.kube.conftest import pod

pytestmark = pytest.mark.integration


async def _until(queue: asyncio.Queue[Change], kind: str, name: str) -> Change:
    while True:
        change = await queue.get()
        if change.type == kind and change.object["metadata"]["name"] == name:
            return change


async def test_watch_survives_410_after_etcd_compaction(
    control_plane: ControlPlane, kube: KubeClient, namespace: str,
) -> None:
    pods = api_path("v1", "pods", namespace=namespace)
    await kube.request("POST", pods, body=pod("old"))
    informer = Informer(kube, api_version="v1", plural="pods", namespace=namespace)
    changes = informer.subscribe()
    await informer.start()
    await _until(changes, "ADDED", "old")
    stale = informer.resource_version
    await informer.close()  # an outage: changes happen while nobody watches

    await kube.request("POST", pods, body=pod("new"))
    await kube.request("DELETE", f"{pods}/old", query={"gracePeriodSeconds": 0})
    assert int(await asyncio.to_thread(control_plane.compact)) > int(stale)

    await informer.resume()
    try:
        seen: dict[tuple[str, str], Change] = {}
        while not {("ADDED", "new"), ("DELETED", "old")} <= set(seen):
            change = await asyncio.wait_for(changes.get(), 30)
            seen[change.type, change.object["metadata"]["name"]] = change
        added, deleted = seen["ADDED", "new"], seen["DELETED", "old"]
        assert informer.relists == 2
        assert deleted.old is not None
        assert added.key in informer.cache
        assert f"{namespace}/old" not in informer.cache
        await kube.request("POST", pods, body=pod("after"))  # and it watches on
        await asyncio.wait_for(_until(changes, "ADDED", "after"), 30)
    finally:
        await informer.close()
