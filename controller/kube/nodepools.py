"""NodePool objects: each configured pool, and its live status, visible to ``kubectl``.

``kubectl get nodepools`` answers "how many machines are ready, pending, wanted,
scaling" without reading the controller's logs. The configuration stays the
source of truth: a pool without its NodePool gets one mirroring its settings. The
status is written only when it changed, and each condition keeps its
``lastTransitionTime`` until its status flips, as Kubernetes conditions do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from controller.config import PoolSpec
from controller.kube.client import JSON, KubeClient
from controller.kube.errors import KubeConflict
from controller.kube.resources import NodePools, now_rfc3339

log = logging.getLogger(__name__)


def pool_spec_of(pool: PoolSpec) -> JSON:
    """The NodePool spec that mirrors a configured pool."""
    limits, up, down = pool.limits, pool.scale_up, pool.scale_down
    return {
        "labels": dict(pool.labels),
        "taints": [taint.model_dump(exclude_defaults=True) for taint in pool.taints],
        "limits": {"minNodes": limits.min_nodes, "maxNodes": limits.max_nodes,
                   "cpu": f"{limits.cpu:g}", "memory": f"{limits.memory:.0f}",
                   "gpu": int(limits.gpu)},
        "scaleUp": {"stabilizationWindow": f"{up.stabilization_window:g}s",
                    "maxPerMinute": up.max_per_minute, "batch": up.batch,
                    "cooldown": f"{up.cooldown:g}s"},
        "scaleDown": {"unneededTime": f"{down.unneeded_time:g}s",
                      "maxConcurrent": down.max_concurrent, "maxPerMinute": down.max_per_minute,
                      "drainTimeout": f"{down.drain_timeout:g}s",
                      "minUptime": f"{down.min_uptime:g}s"},
    }


class NodePoolWriter:
    """Creates missing NodePools and writes their status when it changes."""

    def __init__(self, client: KubeClient) -> None:
        self.pools = NodePools(client)
        self._written: dict[str, JSON] = {}
        self._transitions: dict[tuple[str, str], tuple[str, str]] = {}

    async def ensure(self, pools: Sequence[PoolSpec]) -> None:
        existing = {item["metadata"]["name"] for item in await self.pools.list()}
        for pool in pools:
            if pool.name not in existing:
                try:
                    await self.pools.create_pool(pool.name, pool_spec_of(pool))
                    log.info("created NodePool %s", pool.name)
                except KubeConflict:
                    pass

    async def write(self, pool: str, status: dict[str, Any]) -> bool:
        """Patch the pool's status if it differs from the last one written; True if so."""
        if self._written.get(pool) == status:
            return False
        stamped = {**status, "conditions": [self._stamp(pool, c) for c in status["conditions"]]}
        await self.pools.patch_status(pool, stamped)
        self._written[pool] = status
        return True

    def _stamp(self, pool: str, condition: dict[str, str]) -> dict[str, str]:
        key = (pool, condition["type"])
        previous = self._transitions.get(key)
        if previous is None or previous[0] != condition["status"]:
            previous = (condition["status"], now_rfc3339())
            self._transitions[key] = previous
        return {**condition, "lastTransitionTime": previous[1]}
