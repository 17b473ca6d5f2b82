"""HTTP to one Redfish service: TLS policy, session or basic auth, errors by category.

Kept apart from the power logic in ``redfish`` so that what a Redfish *service*
does (log in, answer JSON, refuse) and what a *system* does (reset, change power
state) read separately. The session token and password are credentials: neither
appears in a log line or an error.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from controller.power.errors import Category, PowerError

log = logging.getLogger(__name__)

SESSIONS_FALLBACK = "/redfish/v1/SessionService/Sessions"
_NO_SESSIONS = frozenset({404, 405, 501})
"""Statuses meaning "this service has no session login": fall back to basic auth."""


class RedfishClient:
    """JSON requests against ``base_url`` with one login kept for the driver's life."""

    def __init__(self, base_url: str, *, username: str, password: str, auth: str,
                 tls: ssl.SSLContext | bool, timeout: float,
                 error: Callable[..., PowerError]) -> None:
        self._base = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._auth_mode = auth
        self._tls = tls
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._error = error  # (message, category, retriable=None) -> PowerError
        self._http: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] | None = None
        self._session_uri: str | None = None

    async def get(self, path: str) -> dict[str, Any]:
        _, body = await self.request("GET", path)
        return body

    async def request(self, method: str, path: str,
                      body: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Send with auth; on an expired session log in once more and retry."""
        headers = await self._auth_headers()
        status, data, _ = await self._send(method, path, body, headers)
        if status == 401 and self._session_uri is not None:
            self._headers = self._session_uri = None
            status, data, _ = await self._send(method, path, body, await self._auth_headers())
        self._check(method, path, status, data)
        return status, data

    async def close(self) -> None:
        """Log out of the session (a BMC has few slots), then close the connection pool."""
        if self._session_uri is not None and self._headers is not None:
            try:
                await self._send("DELETE", self._session_uri, None, self._headers)
            except PowerError as error:
                log.debug("redfish logout failed: %s", error.category)
        self._session_uri = self._headers = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _auth_headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = await self._login()
        return self._headers

    async def _login(self) -> dict[str, str]:
        basic = {"Authorization": "Basic " + base64.b64encode(
            f"{self._username}:{self._password}".encode()).decode()}
        if self._auth_mode == "basic":
            return basic
        sessions = await self._sessions_path()
        if sessions is None:
            return self._without_sessions(basic, "the service root lists no Sessions")
        credentials = {"UserName": self._username, "Password": self._password}
        status, data, headers = await self._send("POST", sessions, credentials, {})
        token = headers.get("X-Auth-Token")
        if status in (200, 201, 204) and token:
            self._session_uri = headers.get("Location") or data.get("@odata.id")
            return {"X-Auth-Token": token}
        if status in _NO_SESSIONS or (status == 401 and self._auth_mode == "auto"):
            # A 401 here may be a service guarding every path with basic auth; if the
            # password is wrong, the first request with basic auth says so.
            return self._without_sessions(basic, f"session login got HTTP {status}")
        self._check("POST", sessions, status, data)
        raise self._error(f"session login at {self._base} returned no X-Auth-Token", "auth")

    def _without_sessions(self, basic: dict[str, str], why: str) -> dict[str, str]:
        if self._auth_mode == "session":
            raise self._error(f"no session login at {self._base}: {why}", "unsupported")
        log.debug("redfish: %s at %s; using basic auth", why, self._base)
        return basic

    async def _sessions_path(self) -> str | None:
        """The Sessions collection from the service root; None if the root lists none."""
        status, root, _ = await self._send("GET", "/redfish/v1/", None, {})
        if status != 200:
            return SESSIONS_FALLBACK  # a root behind auth: try the standard place
        link = root.get("Links", {}).get("Sessions", {}).get("@odata.id")
        return link if isinstance(link, str) else None

    async def _send(self, method: str, path: str, body: Mapping[str, Any] | None,
                    headers: Mapping[str, str]) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        url = path if path.startswith("http") else self._base + path
        try:
            async with self._client().request(method, url, json=body, headers=headers,
                                              ssl=self._tls) as response:
                data = await response.json(content_type=None) if await response.read() else {}
                return response.status, data if isinstance(data, dict) else {}, response.headers
        except aiohttp.ClientConnectorCertificateError as error:
            raise self._error(f"TLS certificate of {self._base} not trusted: "
                              f"{error.certificate_error}", "auth") from error
        except aiohttp.ClientSSLError as error:
            raise self._error(f"TLS with {self._base} failed: {error}", "auth") from error
        except TimeoutError as error:  # before the connection errors: aiohttp's timeout is both
            raise self._error(f"{method} {path}: no answer from {self._base} within "
                              f"{self._timeout.total:g} s", "timeout") from error
        except (aiohttp.ClientConnectionError, OSError) as error:
            raise self._error(f"cannot reach {self._base}: {error}", "unreachable") from error
        except (aiohttp.ContentTypeError, ValueError) as error:
            raise self._error(f"{method} {path}: answer is not JSON", "rejected") from error

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    def _check(self, method: str, path: str, status: int, data: Mapping[str, Any]) -> None:
        if status < 400:
            return
        message = f"{method} {path}: HTTP {status}{_redfish_message(data)}"
        category: Category = "rejected"
        if status in (401, 403):
            category = "auth"
        elif status in (405, 501):
            category = "unsupported"
        raise self._error(message, category, status >= 500 and category == "rejected")


def _redfish_message(data: Mapping[str, Any]) -> str:
    """The service's own explanation, from a Redfish error body, if it gave one."""
    error = data.get("error")
    if not isinstance(error, Mapping):
        return ""
    extended = error.get("@Message.ExtendedInfo") or []
    texts = [str(item["Message"]) for item in extended
             if isinstance(item, Mapping) and item.get("Message")]
    text = "; ".join(texts) or str(error.get("message") or "")
    return f": {text}" if text else ""
