"""Agent authentication by Kubernetes TokenReview: no token Secret to distribute.

With ``--token-review`` an agent may present its own ServiceAccount token, projected
into its pod with the audience ``bamel-controller`` (so a token meant for another
service is refused). The API server says whose token it is; a pod-bound token also
names its pod (``authentication.kubernetes.io/pod-name`` and ``pod-uid``), and the
pod's ``spec.nodeName`` is the one node the connection may report for. A token
from another ServiceAccount, another audience, or a pod that is gone (a replayed
token) is refused. Answers are cached for a minute, per token, so a reconnect storm
after a controller restart costs one review per agent, not one per attempt. The cache
is bounded: expired answers leave it as new ones come, and past ``cache_size``
entries the oldest go first, so a client sending random tokens cannot grow it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from controller.config import SettingsError
from controller.ingest import bearer
from controller.kube.client import JSON, KubeClient, api_path
from controller.kube.errors import KubeError, KubeNotFound

log = logging.getLogger(__name__)

AUDIENCE = "bamel-controller"
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"


class TokenReviewAuthenticator:
    """Maps a pod-bound ServiceAccount token to its pod's node."""

    def __init__(self, client: KubeClient, *, service_account: str,
                 audience: str = AUDIENCE, cache_seconds: float = 60.0,
                 cache_size: int = 20_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        namespace, _, name = service_account.partition("/")
        if not namespace or not name:
            raise SettingsError(f"--agent-service-account: expected NAMESPACE/NAME, "
                                f"got {service_account!r}")
        self.client = client
        self.namespace = namespace
        self.username = f"system:serviceaccount:{namespace}:{name}"
        self.audience = audience
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        """Answers kept at most: twice the agents of a large fleet, a few MB."""
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        """Token digest → (when answered, node); oldest answer first."""

    async def node_for(self, authorization: str | None) -> str | None:
        token = bearer(authorization)
        if token is None:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and self.clock() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            node = await self._review(token)
        except KubeError as error:
            log.warning("token review failed: %s", error)
            return None  # not cached: the API server may be back next time
        self._remember(key, node)
        return node

    def _remember(self, key: str, node: str | None) -> None:
        """Cache an answer; drop expired ones from the oldest end, and the oldest past
        cache_size (insertion order is answer order: the clock only moves forward)."""
        now = self.clock()
        self._cache[key] = (now, node)
        self._cache.move_to_end(key)
        while self._cache:
            oldest, (answered, _) = next(iter(self._cache.items()))
            if len(self._cache) <= self.cache_size and now - answered < self.cache_seconds:
                break
            del self._cache[oldest]

    async def _review(self, token: str) -> str | None:
        review = await self.client.request(
            "POST", api_path("authentication.k8s.io/v1", "tokenreviews"),
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                  "spec": {"token": token, "audiences": [self.audience]}})
        status: JSON = review.get("status") or {}
        user: JSON = status.get("user") or {}
        if not status.get("authenticated") or user.get("username") != self.username:
            return None
        extra = user.get("extra") or {}
        pod_name, pod_uid = _first(extra.get(POD_NAME)), _first(extra.get(POD_UID))
        if not pod_name:
            log.warning("token of %s is not bound to a pod: refused", self.username)
            return None
        try:
            pod = await self.client.request("GET", api_path(
                "v1", "pods", namespace=self.namespace, name=pod_name))
        except KubeNotFound:
            return None
        if pod.get("metadata", {}).get("uid") != pod_uid:
            return None
        return pod.get("spec", {}).get("nodeName") or None


def _first(values: object) -> str:
    if isinstance(values, list) and values:
        return str(values[0])
    return ""
