"""Stopping a component's background task: cancel it and wait until it has ended.

Every component with ``start()``/``close()`` needs the same three steps, and a
close that is safe to call twice; this is that one piece.
"""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel task (if any) and wait for it to finish; its cancellation is not re-raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
