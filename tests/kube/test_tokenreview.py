"""TokenReview authentication of agents against the real API server."""

from __future__ import annotations

from typing import Any

from controller.kube.client import KubeClient, api_path
from controller.kube.tokenreview import AUDIENCE, TokenReviewAuthenticator


async def _agent_pod(kube: KubeClient, namespace: str, account: str, node: str) -> dict[str, Any]:
    await kube.request("POST", api_path("v1", "serviceaccounts", namespace=namespace),
                       body={"metadata": {"name": account}})
    pod = {"metadata": {"name": f"agent-{node}"},
           "spec": {"nodeName": node, "serviceAccountName": account,
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "agent", "image": "registry.invalid/agent:1"}]}}
    return await kube.request("POST", api_path("v1", "pods", namespace=namespace), body=pod)


async def _token(kube: KubeClient, namespace: str, account: str, *,
                 pod: dict[str, Any] | None, audience: str = AUDIENCE) -> str:
    spec: dict[str, Any] = {"audiences": [audience], "expirationSeconds": 600}
    if pod is not None:
        spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1",
                                  "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}
    request = await kube.request(
        "POST", api_path("v1", "serviceaccounts", namespace=namespace, name=account,
                         subresource="token"),
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    return str(request["status"]["token"])


async def test_a_pod_bound_agent_token_speaks_for_its_pods_node_only(
        kube: KubeClient, namespace: str) -> None:
    pod = await _agent_pod(kube, namespace, "bamel-agent", "node-7")
    authenticator = TokenReviewAuthenticator(kube, service_account=f"{namespace}/bamel-agent")
    good = await _token(kube, namespace, "bamel-agent", pod=pod)
    assert await authenticator.node_for(f"Bearer {good}") == "node-7"

    other_audience = await _token(kube, namespace, "bamel-agent", pod=pod, audience="other")
    unbound = await _token(kube, namespace, "bamel-agent", pod=None)
    assert await authenticator.node_for(f"Bearer {other_audience}") is None
    assert await authenticator.node_for(f"Bearer {unbound}") is None
    assert await authenticator.node_for("Bearer not-a-token") is None
    assert await authenticator.node_for(None) is None

    await kube.request("POST", api_path("v1", "serviceaccounts", namespace=namespace),
                       body={"metadata": {"name": "someone-else"}})
    stranger = await _token(kube, namespace, "someone-else", pod=None)
    assert await authenticator.node_for(f"Bearer {stranger}") is None

    await kube.request("DELETE", api_path("v1", "pods", namespace=namespace,
                                          name=pod["metadata"]["name"]),
                       body={"gracePeriodSeconds": 0})
    fresh = TokenReviewAuthenticator(kube, service_account=f"{namespace}/bamel-agent")
    assert await fresh.node_for(f"Bearer {good}") is None  # the pod is gone: a replay


async def test_random_tokens_cannot_grow_the_answer_cache(
        kube: KubeClient, namespace: str) -> None:
    now = [0.0]
    authenticator = TokenReviewAuthenticator(
        kube, service_account=f"{namespace}/bamel-agent", cache_size=50,
        cache_seconds=60.0, clock=lambda: now[0])
    for attempt in range(200):
        assert await authenticator.node_for(f"Bearer forged-{attempt}") is None
        now[0] += 0.01
    assert len(authenticator._cache) == 50  # the newest answers, the oldest gone first
    now[0] += 60.0
    assert await authenticator.node_for("Bearer one-more") is None
    assert len(authenticator._cache) == 1  # expired answers leave as new ones come
