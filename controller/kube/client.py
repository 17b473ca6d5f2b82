"""The one module that talks to kubernetes-asyncio.

Everything else in the controller speaks plain JSON dicts (the API server's own
shapes, camelCase keys) through KubeClient, so the third-party client can be
upgraded or replaced here alone; an import-linter contract keeps it that way.
kubernetes-asyncio supplies the kubeconfig loading, TLS and auth; requests go
through its generic ``call_api`` unparsed, which avoids model round trips and
lets one code path reach any group (core, policy, coordination, bamel.io).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from controller.kube.errors import KubeError, KubeUnavailable, error_for_status

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
_OK_MAX = 299


def api_path(
    api_version: str, plural: str, *, namespace: str | None = None,
    name: str | None = None, subresource: str | None = None,
) -> str:
    """REST path of a collection or object: ``api_path("v1", "pods", namespace="a")``."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class KubeClient:
    """JSON-in, JSON-out access to one API server; close() releases the connection pool."""

    def __init__(self, api: ApiClient) -> None:
        self._api: ApiClient | None = api

    @classmethod
    async def connect(cls, kubeconfig: str | Path | None = None) -> KubeClient:
        """From a kubeconfig file, else $KUBECONFIG, else the in-cluster service account."""
        path = kubeconfig or os.environ.get("KUBECONFIG")
        try:
            if path:
                api = await config.new_client_from_config(config_file=str(path))
            else:
                configuration = Configuration()
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration)
                api = ApiClient(configuration=configuration)
        except (ConfigException, OSError) as error:
            raise KubeError(f"cannot load Kubernetes credentials: {error}") from error
        return cls(api)

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""
        if self._api is not None:
            api, self._api = self._api, None
            await api.close()

    @property
    def host(self) -> str:
        return str(self._client.configuration.host)

    @property
    def _client(self) -> ApiClient:
        if self._api is None:
            raise KubeError("client is closed")
        return self._api

    async def request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
        body: Any = None, content_type: str = "application/json",
        seconds: float = 30.0,
    ) -> JSON:
        """Send one request; return the decoded JSON body or raise a KubeError."""
        response = await self._send(method, path, query=query, body=body,
                                    content_type=content_type,
                                    limits=aiohttp.ClientTimeout(total=seconds))
        try:
            text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KubeUnavailable(f"{method} {path}: {error}") from error
        finally:
            response.release()
        if response.status > _OK_MAX:
            raise _status_error(method, path, response.status, text)
        return json.loads(text) if text else {}

    async def stream(
        self, path: str, *, query: Mapping[str, Any], idle_timeout: float = 90.0,
    ) -> AsyncIterator[JSON]:
        """Yield the events of a watch (``{"type": ..., "object": ...}``) until it ends."""
        query = {**query, "watch": "true"}
        limits = aiohttp.ClientTimeout(total=None, sock_read=idle_timeout)
        response = await self._send("GET", path, query=query, limits=limits)
        try:
            if response.status > _OK_MAX:
                raise _status_error("WATCH", path, response.status, await response.text())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KubeUnavailable(f"watch {path}: {error}") from error
        finally:
            response.release()

    async def _send(
        self, method: str, path: str, *, query: Mapping[str, Any] | None, body: Any = None,
        content_type: str = "application/json", limits: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        params = [(key, str(value).lower() if isinstance(value, bool) else value)
                  for key, value in (query or {}).items() if value is not None]
        try:
            response: aiohttp.ClientResponse = await self._client.call_api(
                path, method, query_params=params, body=body,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False,
                _request_timeout=limits,
            )
        except ApiException as error:
            raise _status_error(method, path, error.status or 0, str(error.body)) from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise KubeUnavailable(f"{method} {path}: {error}") from error
        return response


def _status_error(method: str, path: str, status: int, text: str) -> KubeError:
    """Turn an error response (usually a Status object) into a KubeError."""
    reason, message = "", text[:300]
    try:
        body = json.loads(text)
        reason, message = body.get("reason", ""), body.get("message", message)
    except (ValueError, AttributeError):
        pass
    return error_for_status(status, f"{method} {path}: {status} {message}", reason)

