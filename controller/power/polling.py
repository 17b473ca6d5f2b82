"""Wait for a power source to report a state, polling it: shared by the BMC drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from controller.power.protocol import PowerState


async def reaches(read: Callable[[], Awaitable[PowerState]], target: PowerState, *,
                  within: float, every: float) -> bool:
    """True once ``read()`` reports target; False if it has not within ``within`` s.

    A server takes tens of seconds to change power after the BMC accepted the
    command, so a driver that promises the state polls for it.
    """
    try:
        async with asyncio.timeout(within):
            while True:
                if await read() == target:
                    return True
                await asyncio.sleep(every)
    except TimeoutError:
        return False
