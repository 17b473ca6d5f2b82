"""Errors of the Kubernetes boundary, each saying whether a retry can help.

Callers never see kubernetes-asyncio or aiohttp exceptions: client.py converts
them here, chained with ``from``, so retry logic reads one flag (``retriable``,
from ``faults.BoundaryError``) instead of guessing from status codes spread through
the controller.
"""

from __future__ import annotations

from faults import BoundaryError


class KubeError(BoundaryError):
    """A request to the API server failed.

    status: the HTTP status (0 when the server was not reached); reason: the
    Status reason (``NotFound``, ``TooManyRequests``...) or the exception name.
    """

    retriable: bool = False

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeUnavailable(KubeError):
    """The server could not be reached, answered 5xx, or timed the request out (408):
    try again later."""

    retriable = True


class KubeTooManyRequests(KubeError):
    """429: throttled, or an eviction refused by a PodDisruptionBudget."""

    retriable = True


class KubeConflict(KubeError):
    """409: stale resourceVersion or already exists; re-read and retry."""

    retriable = True


class KubeGone(KubeError):
    """410: the resourceVersion was compacted away; relist."""

    retriable = True


class KubeNotFound(KubeError):
    """404: the object (or the API group) does not exist."""


class KubeInvalid(KubeError):
    """422 or 400: the server rejected the object; fix the request."""


class KubeForbidden(KubeError):
    """401 or 403: the credentials lack a permission."""


class KubeTimeout(KubeError):
    """A wait (node Ready, drain) ran out of time; the message says what was awaited."""


class DrainRefused(KubeError):
    """A node cannot be drained safely; the message names the pod or annotation."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: KubeInvalid, 401: KubeForbidden, 403: KubeForbidden, 404: KubeNotFound,
    408: KubeUnavailable, 409: KubeConflict, 410: KubeGone, 422: KubeInvalid,
    429: KubeTooManyRequests,
}


def error_for_status(status: int, message: str, reason: str = "") -> KubeError:
    """The KubeError subclass that matches an HTTP status."""
    if status >= 500:
        return KubeUnavailable(message, status=status, reason=reason)
    kind = _BY_STATUS.get(status, KubeError)
    return kind(message, status=status, reason=reason)
