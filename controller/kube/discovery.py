"""Which version of an API group the server serves, asked once per process.

Users run Kubernetes from 1.20 to the newest; ``policy/v1`` (Eviction,
PodDisruptionBudget) is served from 1.21 and ``policy/v1beta1`` was removed in 1.25.
So the version is read from the server's discovery document, never assumed: the
newest the server offers among those this controller speaks.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.kube.client import KubeClient

POLICY_VERSIONS = ("policy/v1", "policy/v1beta1")
"""The policy group versions understood here, preferred first."""


async def served_version(client: KubeClient, group: str, known: Sequence[str]) -> str:
    """The first of ``known`` (``group/version`` strings, preferred first) the server
    serves; the last of them when it lists none (an old server's discovery)."""
    document = await client.request("GET", f"/apis/{group}")
    served = {version.get("groupVersion") for version in document.get("versions") or []}
    return next((version for version in known if version in served), known[-1])


async def policy_version(client: KubeClient) -> str:
    """``policy/v1`` where served, else ``policy/v1beta1``."""
    return await served_version(client, "policy", POLICY_VERSIONS)
