"""Run a blocking library call off the event loop, abandoning it after a timeout.

pyghmi blocks for up to half a minute when a BMC stops answering and cannot be
interrupted. ``asyncio.to_thread`` would keep such a call in the default executor,
which is sized by CPU count and joined at interpreter exit, so a few dead BMCs
would starve every other blocking call and delay shutdown. Each call here gets its
own daemon thread instead: the controller stops waiting at the timeout, and the
thread ends on its own when the library gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def run_blocking(function: Callable[[], T], *, within: float, name: str) -> T:
    """``function()`` in a daemon thread; ``TimeoutError`` if it takes over ``within`` s."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting task, not swallowed
            _hand_over(loop, settle, None, error)
        else:
            _hand_over(loop, settle, result, None)

    threading.Thread(target=work, name=name, daemon=True).start()
    async with asyncio.timeout(within):
        return await future  # cancelled on timeout; a late result is then dropped


def _hand_over(loop: asyncio.AbstractEventLoop, settle: Callable[..., None], *args: object) -> None:
    """Pass a result to the loop, unless the loop is gone (the caller stopped waiting)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle, *args)
