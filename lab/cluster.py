"""The lab's admin hand on the cluster: what a person would do with kubectl.

Installing the CRDs and the namespace, creating the Secrets the configuration names,
running Deployments and PodDisruptionBudgets for the workload, and reading back
BareMetalNodes, Nodes and pods for the view and the tests. It plays the operator,
not the controller, so it uses kubernetes-asyncio directly and shares nothing with
``controller.kube``.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

CRDS = Path(__file__).resolve().parent.parent / "daemonset" / "crds"
GROUP, VERSION = "bamel.io", "v1alpha1"
CONFLICT, NOT_FOUND = 409, 404
PAUSE_IMAGE = "registry.invalid/pause:1"
"""Never pulled: hollow nodes run pods without containers."""


class Cluster:
    """An admin client on the lab's control plane; ``close()`` is safe to call twice."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self._api: client.ApiClient | None = None

    async def connect(self) -> Cluster:
        self._api = await config.new_client_from_config(config_file=str(self.kubeconfig))
        return self

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def __aenter__(self) -> Cluster:
        return await self.connect()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self._api)

    # --- installation ---------------------------------------------------------------

    async def install_crds(self) -> None:
        """``kubectl apply`` the CRDs and wait until they are served."""
        kubectl = ["kubectl", f"--kubeconfig={self.kubeconfig}"]
        for argv in ([*kubectl, "apply", "-f", str(CRDS)],
                     [*kubectl, "wait", "--for=condition=Established", "--timeout=60s",
                      "crd", "--all"]):
            await asyncio.to_thread(subprocess.run, argv, check=True, capture_output=True)

    async def ensure_namespace(self, name: str) -> None:
        body: Any = {"metadata": {"name": name}}
        await _create(self.core.create_namespace(body))

    async def put_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        body: Any = {"metadata": {"name": name, "namespace": namespace},
                "type": "kubernetes.io/basic-auth",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        await _create(self.core.create_namespaced_secret(namespace, body))

    # --- workload -------------------------------------------------------------------

    async def deploy(self, namespace: str, name: str, *, replicas: int,
                     requests: Mapping[str, str], selector: Mapping[str, str],
                     load: str = "", tolerations: list[dict[str, str]] | None = None) -> None:
        """Create or update a Deployment whose pods request ``requests`` on ``selector``."""
        annotations = {"lab.bamel.io/load": load} if load else {}
        template = {
            "metadata": {"labels": {"app": name}, "annotations": annotations},
            "spec": {"nodeSelector": dict(selector), "tolerations": tolerations or [],
                     "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": PAUSE_IMAGE,
                                     "resources": {"requests": dict(requests),
                                                   "limits": _limits(requests)}}]}}
        body: Any = {"metadata": {"name": name, "labels": {"app": name}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": template}}
        apps = client.AppsV1Api(self._api)
        try:
            await apps.create_namespaced_deployment(namespace, body)
        except ApiException as error:
            if error.status != CONFLICT:
                raise
            await apps.replace_namespaced_deployment(name, namespace, body)

    async def scale(self, namespace: str, name: str, replicas: int) -> None:
        await client.AppsV1Api(self._api).patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}})

    async def disruption_budget(self, namespace: str, name: str, *, min_available: int) -> None:
        """A policy/v1beta1 PDB over the Deployment's pods (the server is v1.20, and this
        client no longer has a typed API for v1beta1, so it goes through the generic one)."""
        body: Any = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                "metadata": {"name": name},
                "spec": {"minAvailable": min_available,
                         "selector": {"matchLabels": {"app": name}}}}
        await _create(client.CustomObjectsApi(self._api).create_namespaced_custom_object(
            "policy", "v1beta1", namespace, "poddisruptionbudgets", body))

    async def disruption_budget_status(self, namespace: str, name: str) -> dict[str, Any]:
        """The PDB's status as the disruption controller last wrote it ({} before)."""
        budget = await client.CustomObjectsApi(self._api).get_namespaced_custom_object(
            "policy", "v1beta1", namespace, "poddisruptionbudgets", name)
        return dict(budget.get("status") or {})

    # --- reading back ---------------------------------------------------------------

    async def machines(self) -> dict[str, dict[str, Any]]:
        """BareMetalNode name → status ({} before the controller writes one)."""
        custom = client.CustomObjectsApi(self._api)
        try:
            listing = await custom.list_cluster_custom_object(GROUP, VERSION, "baremetalnodes")
        except ApiException as error:
            if error.status == NOT_FOUND:
                return {}
            raise
        return {item["metadata"]["name"]: item.get("status") or {}
                for item in listing.get("items", [])}

    async def pods(self, namespace: str) -> list[Any]:
        return list((await self.core.list_namespaced_pod(namespace)).items)

    async def node(self, name: str) -> Any | None:
        try:
            return await self.core.read_node(name)
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise

    async def events(self, namespace: str = "default") -> list[Any]:
        return list((await self.core.list_namespaced_event(namespace)).items)


def is_pending(pod: Any) -> bool:
    """Waiting for a node: Pending and not bound."""
    return bool(pod.status.phase == "Pending" and not pod.spec.node_name
                and pod.metadata.deletion_timestamp is None)


def _limits(requests: Mapping[str, str]) -> dict[str, str]:
    """Extended resources must have limits equal to their requests."""
    return {k: v for k, v in requests.items() if "/" in k}


async def _create(call: Any) -> None:
    """Await a create; an existing object is fine (the lab is idempotent)."""
    try:
        await call
    except ApiException as error:
        if error.status != CONFLICT:
            raise
