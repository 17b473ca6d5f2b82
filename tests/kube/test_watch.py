"""Informers resume from their resourceVersion, relist after 410 Gone, and stop on 403."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeForbidden
from controller.kube.watching import Change, Informer
from controller.tasks import Work
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


async def _list_only_client(control_plane: ControlPlane, kube: KubeClient, namespace: str,
                            workdir: Path) -> KubeClient:
    """A client whose ServiceAccount may list the namespace's pods but not watch them."""
    account = "lister"
    await kube.request("POST", api_path("v1", "serviceaccounts", namespace=namespace),
                       body={"metadata": {"name": account}})
    await kube.request(
        "POST", api_path("rbac.authorization.k8s.io/v1", "roles", namespace=namespace),
        body={"metadata": {"name": "list-pods"},
              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    await kube.request(
        "POST", api_path("rbac.authorization.k8s.io/v1", "rolebindings", namespace=namespace),
        body={"metadata": {"name": "list-pods"},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                          "name": "list-pods"},
              "subjects": [{"kind": "ServiceAccount", "name": account,
                            "namespace": namespace}]})
    request = await kube.request(
        "POST", api_path("v1", "serviceaccounts", namespace=namespace, name=account,
                         subresource="token"),
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 600}})
    assert control_plane.workdir is not None
    kubeconfig = workdir / "lister.kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "lister",
        "clusters": [{"name": "plane", "cluster": {
            "server": control_plane.server,
            "certificate-authority": str(control_plane.workdir / "certs" / "apiserver.crt")}}],
        "users": [{"name": "lister", "user": {"token": request["status"]["token"]}}],
        "contexts": [{"name": "lister", "context": {"cluster": "plane", "user": "lister"}}],
    }))
    return await KubeClient.connect(kubeconfig)


async def test_a_watch_the_credentials_may_not_make_ends_the_informer(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path,
) -> None:
    await kube.request("POST", api_path("v1", "pods", namespace=namespace), body=pod("seen"))
    lister = await _list_only_client(control_plane, kube, namespace, tmp_path)
    spawned: list[asyncio.Task[None]] = []

    def spawn(work: Work, *, name: str) -> asyncio.Task[None]:
        spawned.append(asyncio.create_task(work, name=name))
        return spawned[-1]

    informer = Informer(lister, api_version="v1", plural="pods", namespace=namespace,
                        spawn=spawn)
    try:
        await informer.start()  # the list is allowed
        assert f"{namespace}/seen" in informer.cache
        (task,) = spawned
        await asyncio.wait_for(asyncio.wait({task}), 10)  # it fails, not retries forever
        error = task.exception()
        assert isinstance(error, KubeForbidden)
        assert error.status == 403 and not error.retriable
        assert "watch" in str(error)
    finally:
        with contextlib.suppress(KubeForbidden):
            await informer.close()
        await lister.close()
