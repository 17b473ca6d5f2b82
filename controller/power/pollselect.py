"""``select.select``'s contract over ``poll()``, for pyghmi's I/O thread.

pyghmi waits on its UDP sockets with ``select.select``, which raises
"filedescriptor out of range" once a socket's number reaches 1024. A controller
that also holds thousands of agent connections gets such numbers, pyghmi's I/O
thread dies, and every IPMI call after that times out. ``poll`` has no such
ceiling; ``install`` points pyghmi's session module at this shim instead of the
real ``select`` module, leaving the rest of the process untouched.
"""

from __future__ import annotations

import select
import types
from collections.abc import Iterable, Sequence
from typing import Any

_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITE = select.POLLOUT | select.POLLHUP | select.POLLERR


def _fd(obj: Any) -> int:
    return obj if isinstance(obj, int) else int(obj.fileno())


def poll_select(rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any],
                timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """Same arguments and result as ``select.select``, with no descriptor ceiling."""
    poller = select.poll()
    masks: dict[int, int] = {}
    for obj in rlist:
        masks[_fd(obj)] = masks.get(_fd(obj), 0) | select.POLLIN | select.POLLPRI
    for obj in wlist:
        masks[_fd(obj)] = masks.get(_fd(obj), 0) | select.POLLOUT
    for fd, mask in masks.items():
        poller.register(fd, mask)
    ready = dict(poller.poll(None if timeout is None else max(0.0, timeout) * 1000.0))
    return (_pick(rlist, ready, _READ), _pick(wlist, ready, _WRITE), [])


def _pick(objects: Iterable[Any], ready: dict[int, int], mask: int) -> list[Any]:
    return [obj for obj in objects if ready.get(_fd(obj), 0) & mask]


def install(*modules: types.ModuleType) -> None:
    """Give each module a ``select`` whose ``select()`` is poll-based."""
    shim = types.SimpleNamespace(**{name: getattr(select, name) for name in dir(select)
                                    if not name.startswith("__")})
    shim.select = poll_select
    for module in modules:
        module.select = shim  # type: ignore[attr-defined]
