"""BareMetalNode and NodePool objects, Secrets and Events: the controller's own records.

The CRDs (daemonset/crds/) make the controller's view visible to people
(``kubectl get baremetalnodes``) and survive restarts; this module is the only
place that knows their group, version and status shapes. Every state change
stamps ``since`` so the status says how long a machine has been in its state.
"""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from controller.kube.client import JSON, MERGE_PATCH, KubeClient, api_path
from controller.kube.errors import KubeError

log = logging.getLogger(__name__)

GROUP_VERSION = "bamel.io/v1alpha1"
State = Literal["off", "powering-on", "joining", "ready", "draining", "powering-off", "error"]
STATES: tuple[State, ...] = (
    "off", "powering-on", "joining", "ready", "draining", "powering-off", "error")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CustomObjects:
    """CRUD and status patches of one cluster-scoped bamel.io kind."""

    def __init__(self, client: KubeClient, plural: str) -> None:
        self.client = client
        self.plural = plural

    def _path(self, name: str | None = None, subresource: str | None = None) -> str:
        return api_path(GROUP_VERSION, self.plural, name=name, subresource=subresource)

    async def get(self, name: str) -> JSON:
        return await self.client.request("GET", self._path(name))

    async def list(self) -> list[JSON]:
        listing = await self.client.request("GET", self._path())
        return list(listing.get("items", []))

    async def create(self, name: str, spec: JSON, kind: str) -> JSON:
        body = {"apiVersion": GROUP_VERSION, "kind": kind,
                "metadata": {"name": name}, "spec": spec}
        return await self.client.request("POST", self._path(), body=body)

    async def delete(self, name: str) -> None:
        await self.client.request("DELETE", self._path(name))

    async def patch(self, name: str, body: JSON) -> JSON:
        """Merge body into the object (spec or metadata; None removes a field)."""
        return await self.client.request("PATCH", self._path(name), body=body,
                                         content_type=MERGE_PATCH)

    async def patch_status(self, name: str, status: JSON) -> JSON:
        """Merge status fields (None removes one) through the status subresource."""
        return await self.client.request("PATCH", self._path(name, "status"),
                                         body={"status": status}, content_type=MERGE_PATCH)


class BareMetalNodes(CustomObjects):
    def __init__(self, client: KubeClient) -> None:
        super().__init__(client, "baremetalnodes")

    async def create_machine(self, name: str, spec: JSON) -> JSON:
        return await self.create(name, spec, "BareMetalNode")

    async def set_state(self, name: str, state: State, *, error: str | None = None,
                        **fields: Any) -> JSON:
        """Enter state now; lastError is set with error, and cleared on leaving error."""
        status: JSON = {"state": state, "since": now_rfc3339(), **fields}
        if error is not None:
            status["lastError"] = error
        return await self.patch_status(name, status)


class NodePools(CustomObjects):
    def __init__(self, client: KubeClient) -> None:
        super().__init__(client, "nodepools")

    async def create_pool(self, name: str, spec: JSON) -> JSON:
        return await self.create(name, spec, "NodePool")


async def read_secret(client: KubeClient, namespace: str, name: str) -> dict[str, bytes]:
    """A Secret's data, decoded: what the power layer's credentials reader is given."""
    secret = await client.request("GET", api_path("v1", "secrets", namespace=namespace,
                                                  name=name))
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


class EventRecorder:
    """Writes core/v1 Events about an object, so ``kubectl describe`` shows what happened.

    Cluster-scoped objects (Nodes, BareMetalNodes) get their Events in ``namespace``,
    which the API server requires to be ``default`` (or ``kube-system``) for them. A
    failed write is logged, never raised: Events are for people, actions go on.
    """

    def __init__(self, client: KubeClient, *, component: str = "bamel-controller",
                 namespace: str = "default") -> None:
        self.client = client
        self.component = component
        self.namespace = namespace

    async def record(self, obj: JSON, reason: str, message: str, *,
                     warning: bool = False) -> JSON:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or self.namespace
        stamp = now_rfc3339()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:10]}",
                         "namespace": namespace},
            "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"),
                               "kind": obj.get("kind", ""), "name": meta.get("name"),
                               "uid": meta.get("uid", ""), "namespace": meta.get("namespace")},
            "reason": reason, "message": message[:1000],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self.component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        try:
            return await self.client.request(
                "POST", api_path("v1", "events", namespace=namespace), body=body)
        except KubeError as error:  # an unrecorded event must never stop an action
            log.warning("event %s on %s not recorded: %s", reason, meta.get("name"), error)
            return {}

    async def record_node(self, node_name: str, reason: str, message: str, *,
                          warning: bool = False) -> JSON:
        """An Event on the Node by name (uid unknown is fine for kubectl describe)."""
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name,
                                                                  "uid": node_name}}
        return await self.record(node, reason, message, warning=warning)
