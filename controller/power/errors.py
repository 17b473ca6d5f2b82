"""One error family for every power driver, so retry logic reads a category, not a library.

Each driver converts its library's exceptions here, at its boundary, chained with
``from``. ``PowerError`` is a ``faults.BoundaryError``: the actuator reads its
``retriable`` to choose between a doubling backoff and a long hold. Messages name
the machine, the driver and what failed, never a credential: they end up in logs,
Kubernetes events and metrics labels.
"""

from __future__ import annotations

from typing import Literal

from faults import BoundaryError

Category = Literal["unreachable", "auth", "unsupported", "timeout", "rejected"]

CATEGORIES: frozenset[str] = frozenset(
    {"unreachable", "auth", "unsupported", "timeout", "rejected"}
)

_RETRIABLE_BY_DEFAULT: dict[str, bool] = {
    "unreachable": True,
    "timeout": True,
    "auth": False,
    "unsupported": False,
    "rejected": False,
}
"""A network blip or a slow BMC may pass; a wrong password or a refused command will not."""


class PowerError(BoundaryError):
    """A power operation failed; ``category`` says how, ``retriable`` whether to try again."""

    def __init__(
        self,
        message: str,
        *,
        category: Category,
        retriable: bool | None = None,
        driver: str | None = None,
        machine: str | None = None,
    ) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown power error category {category!r}")
        self.category: Category = category
        self.retriable = _RETRIABLE_BY_DEFAULT[category] if retriable is None else retriable
        self.driver = driver
        self.machine = machine
        self.detail = message
        prefix = ": ".join(part for part in (machine, driver) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self) -> tuple[object, ...]:
        """Keep category and flags across pickling (process pools, multiprocessing)."""
        return (_rebuild, (self.detail, self.category, self.retriable, self.driver, self.machine))


def _rebuild(
    message: str, category: Category, retriable: bool, driver: str | None, machine: str | None
) -> PowerError:
    return PowerError(
        message, category=category, retriable=retriable, driver=driver, machine=machine
    )
