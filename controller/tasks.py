"""A component's background task: how it is started, and how it is stopped.

Every component with ``start()``/``close()`` needs the same steps. It starts its
task through a ``Spawn`` it was given: the service hands every component its
supervisor's (``controller.supervision``), so a task that dies takes the process
down instead of leaving a half-working controller; on its own (in its unit tests)
a component uses ``spawn_task``, a plain named task. ``close()`` cancels the task
and waits until it has ended, and is safe to call twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

Work = Coroutine[Any, Any, None]


class Spawn(Protocol):
    """Starts work as a named task that runs until cancelled."""

    def __call__(self, work: Work, *, name: str) -> asyncio.Task[None]: ...


def spawn_task(work: Work, *, name: str) -> asyncio.Task[None]:
    """A plain named task, watched by nobody: for components used on their own."""
    return asyncio.create_task(work, name=name)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel task (if any) and wait for it to finish; its cancellation is not re-raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
