"""The processes of a multi-process benchmark: pinned, with room for many sockets, timed.

The controller benchmarks run the controller in one process and the agents' load in
others, on separate cores of the same machine, so that what the controller's core
does can be read from its own CPU time. Each child serves commands from the parent
over a pipe, inside its own event loop, so the parent can mark the start and end of
a measurement window while the load keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SOCKETS = 65_536
"""File descriptors each benchmark process may hold: tens of thousands of agents."""
NICE = -20
"""Scheduling priority of the benchmark's processes: on a machine shared with other work
they get about 99 % of their core against an ordinary process that wants it too, so
the figures are about the controller, not about what else ran beside it."""

Handler = Callable[..., Awaitable[Any]]


def prepare(cpu: int) -> None:
    """Run on ``cpu`` only, ahead of other work (NICE, when allowed), with room for
    SOCKETS descriptors (root may raise the hard limit)."""
    os.sched_setaffinity(0, {cpu})
    _set_priority(NICE)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, SOCKETS)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def descriptors() -> int:
    """How many descriptors this process may open (after :func:`prepare`, the most it got)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name may hold spaces; the fields after it are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_busy_seconds(cpu: int) -> float:
    """Time ``cpu`` spent on anything but idle and iowait, from ``/proc/stat``."""
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *values = line.split()
            if name == f"cpu{cpu}":
                ticks = [int(v) for v in values[:8]]
                return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
    raise LookupError(f"cpu{cpu} is not in /proc/stat")


async def serve(conn: Connection, handlers: dict[str, Handler]) -> None:
    """Answer ``(name, *args)`` requests with ``handlers[name](*args)`` until ``stop``.

    Each answer is ``("ok", value)`` or ``("error", text)``; requests are handled one
    at a time, in order, while the rest of the loop keeps running.
    """
    loop = asyncio.get_running_loop()
    requests: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def receive() -> None:
        try:
            requests.put_nowait(conn.recv())
        except (EOFError, OSError):  # the parent is gone: stop with it
            loop.remove_reader(conn.fileno())
            requests.put_nowait(("gone",))

    loop.add_reader(conn.fileno(), receive)
    try:
        while True:
            name, *args = await requests.get()
            if name == "gone":
                return
            if name == "stop":
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", await handlers[name](*args)))
            except Exception as error:
                conn.send(("error", f"{name}: {type(error).__name__}: {error}"))
    finally:
        loop.remove_reader(conn.fileno())


def ask(conn: Connection, name: str, *args: Any, timeout: float = 120.0) -> Any:
    """Send one request to a child serving with :func:`serve` and return its answer."""
    conn.send((name, *args))
    return answer(conn, timeout=timeout, name=name)


def answer(conn: Connection, *, timeout: float, name: str = "a request") -> Any:
    """The answer to the request sent last on conn (its value, or RuntimeError)."""
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer to {name!r} within {timeout:g} s")
    status, value = conn.recv()
    if status != "ok":
        raise RuntimeError(value)
    return value


def ask_all(requests: list[tuple[Child, tuple[Any, ...]]], *, timeout: float) -> list[Any]:
    """Send each child its request, all at once, then collect the answers in order."""
    for child, request in requests:
        child.conn.send(request)
    return [answer(child.conn, timeout=timeout, name=request[0]) for child, request in requests]


class Child:
    """A benchmark process started by :class:`Children`, answering over its pipe."""

    def __init__(self, conn: Connection, process: BaseProcess) -> None:
        self.conn = conn
        self.process = process

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def ask(self, name: str, *args: Any, timeout: float = 120.0) -> Any:
        return ask(self.conn, name, *args, timeout=timeout)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)


class Children(contextlib.AbstractContextManager["Children"]):
    """Starts benchmark processes (fresh interpreters) and stops each one, by its own pid."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._children: list[Child] = []

    def start(self, target: Callable[..., None], *args: Any) -> Child:
        """Run ``target(conn, *args)`` in a new process; conn is its end of the pipe."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=target, args=(theirs, *args), daemon=True)
        process.start()
        theirs.close()
        child = Child(ours, process)
        self._children.append(child)
        return child

    def __exit__(self, *_: object) -> None:
        for child in reversed(self._children):
            with contextlib.suppress(Exception):
                child.ask("stop", timeout=10.0)
            child.process.join(10.0)
            if child.process.is_alive():
                child.process.terminate()
                child.process.join(5.0)
            child.conn.close()
        self._children.clear()


@contextlib.contextmanager
def foreground(cpu: int) -> Iterator[None]:
    """Run the calling process on ``cpu`` at NICE for the duration, then as before."""
    affinity = os.sched_getaffinity(0)
    priority = os.getpriority(os.PRIO_PROCESS, 0)
    os.sched_setaffinity(0, {cpu})
    _set_priority(NICE)
    try:
        yield
    finally:
        _set_priority(priority)
        os.sched_setaffinity(0, affinity)


def _set_priority(nice: int) -> None:
    """Set this process's nice value, where allowed (raising priority needs root)."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
