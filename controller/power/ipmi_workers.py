"""The controller's side of the IPMI worker server (``controller.power.ipmi_worker``).

One server per process, started on the first IPMI operation and shared by every
machine's driver and every event loop (tests and ``bamel power`` run several).
``run`` sends a request and waits for its answer; the server enforces the deadline
itself (it kills the overrunning child and says so), and a grace period on top
guards against a server that died. A reader thread hands answers to the waiting
loops. ``close_workers`` stops the server and reaps it, as does the process's
exit; a process killed outright still leaves no worker behind, since the server
leaves when its stdin closes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

WORKER_MODULE = "controller.power.ipmi_worker"
GRACE = 5.0
"""Seconds past a request's deadline before the server itself counts as gone."""

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[dict[str, Any]]"]


class WorkerGone(Exception):
    """The worker server ended (or could not be reached) before it answered."""


class IpmiWorkers:
    """Requests to one worker server, answers matched back by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._waiting: dict[int, Waiter] = {}
        self._ids = itertools.count(1)

    async def run(self, request: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        """The server's message for this request: ``answer``, ``stopped`` or ``died``."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        request_id = next(self._ids)
        self._waiting[request_id] = (loop, answer)
        try:
            self._send({"id": request_id, "deadline": deadline, "request": request})
            async with asyncio.timeout(deadline + GRACE):
                return await answer
        except TimeoutError:
            raise WorkerGone(f"no word from the worker server in {deadline + GRACE:g} s") \
                from None
        except asyncio.CancelledError:
            with contextlib.suppress(WorkerGone):
                self._send({"id": request_id, "cancel": True})
            raise
        finally:
            self._waiting.pop(request_id, None)

    def close(self) -> None:
        """Close the server's stdin (it kills its children and leaves) and reap it."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            _stdin(process).close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message).encode() + b"\n"
        with self._lock:
            process = self._started()
            try:
                _stdin(process).write(line)
                _stdin(process).flush()
            except OSError as error:
                raise WorkerGone(f"the worker server is not running: {error}") from None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, env=_environment())
            threading.Thread(target=self._read, args=(self._process,), daemon=True,
                             name="ipmi-workers").start()
        return self._process

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        """Hand each answer to its loop; when the server ends, fail every waiter."""
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                message = json.loads(line)
                waiter = self._waiting.get(int(message["id"]))
                if waiter is not None:
                    _settle(waiter, message, None)
        code = process.wait()
        gone = WorkerGone(f"the worker server ended (exit {code})")
        for request_id in list(self._waiting):
            waiter = self._waiting.get(request_id)
            if waiter is not None:
                _settle(waiter, None, gone)


def _settle(waiter: Waiter, message: dict[str, Any] | None, error: Exception | None) -> None:
    loop, future = waiter

    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(message or {})

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


def _stdin(process: subprocess.Popen[bytes]) -> IO[bytes]:
    assert process.stdin is not None
    return process.stdin


_WORKERS = IpmiWorkers()
atexit.register(_WORKERS.close)  # reaped, not orphaned, however the process ends its run


def workers() -> IpmiWorkers:
    """This process's worker server (started on first use)."""
    return _WORKERS


async def close_workers() -> None:
    """Stop this process's worker server, if it runs; the next operation starts another."""
    await asyncio.to_thread(_WORKERS.close)


def _environment() -> dict[str, str]:
    """This environment, with this package importable wherever the server starts."""
    environment = dict(os.environ)
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = f"{_PACKAGE_ROOT}{os.pathsep}{path}" if path else _PACKAGE_ROOT
    return environment
