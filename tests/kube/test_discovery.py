"""API group versions by discovery: policy/v1 where served, policy/v1beta1 where not."""

from __future__ import annotations

from typing import Any

import pytest

from controller.kube.client import KubeClient
from controller.kube.clusterview import ClusterView
from controller.kube.discovery import policy_version
from controller.kube.pending import PendingTracker


class Discovery:
    """A server whose /apis/policy lists the given versions (a unit test's stand-in)."""

    def __init__(self, *versions: str) -> None:
        self.versions = versions

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", "/apis/policy")
        return {"versions": [{"groupVersion": v} for v in self.versions]}


@pytest.mark.parametrize(("served", "chosen"), [
    (("policy/v1", "policy/v1beta1"), "policy/v1"),   # 1.21 - 1.24
    (("policy/v1",), "policy/v1"),                    # 1.25 and later
    (("policy/v1beta1",), "policy/v1beta1"),          # 1.20
])
async def test_the_newest_policy_version_the_server_serves_is_chosen(
        served: tuple[str, ...], chosen: str) -> None:
    assert await policy_version(Discovery(*served)) == chosen  # type: ignore[arg-type]


@pytest.mark.integration
async def test_the_cluster_view_watches_budgets_in_the_version_this_server_serves(
        kube: KubeClient, namespace: str) -> None:
    expected = await policy_version(kube)
    await kube.request("POST", f"/apis/{expected}/namespaces/{namespace}/poddisruptionbudgets",
                       body={"metadata": {"name": "web"},
                             "spec": {"minAvailable": 1,
                                      "selector": {"matchLabels": {"app": "web"}}}})
    view = ClusterView(kube, tracker=PendingTracker([]))
    await view.start()
    try:
        assert view.budget_version == expected
        budgets = [b for b in view.scheduling().budgets if b.namespace == namespace]
        assert [b.name for b in budgets] == ["web"]
        assert budgets[0].covers(namespace, {"app": "web"})
    finally:
        await view.close()
