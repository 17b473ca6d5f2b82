"""The IPMI worker server: ``python -m controller.power.ipmi_worker``, one per controller.

It reads requests on stdin, one JSON line each: ``{"id", "deadline", "request"}``
(operation, machine, settings, username, password; the operation is a
``PowerOperation`` or ``power-reading``) or ``{"id", "cancel": true}``.
For each request it forks a child that runs the operation with pyghmi and sends its
answer back over a pipe of its own; the server relays it on stdout as
``{"id", "answer": {"ok": ..., ...}}``, or ``{"id", "stopped": true}`` when the child
overran its deadline or was cancelled (it is killed), or ``{"id", "died": code}``
when it ended without answering.

The server itself never talks to a BMC and runs a single thread, so forking it is
safe and cheap (pyghmi is already imported); each child starts with pyghmi's
process-wide state untouched, and whatever a silent BMC does to that state dies
with the child. When stdin closes (the controller stopped), the server kills its
children and leaves.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from controller.power.errors import PowerError
from controller.power.ipmi_client import PyghmiClient
from controller.power.ipmi_settings import READING, IpmiSettings
from controller.power.protocol import PowerOperation


async def perform(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request; a PowerError becomes an answer, not an exit."""
    client = PyghmiClient(IpmiSettings.model_validate(request["settings"]),
                          machine=str(request["machine"]), username=str(request["username"]),
                          password=str(request["password"]))
    try:
        if request["operation"] == READING:
            return {"ok": True, "watts": await client.power_watts()}
        operation = _operation(str(request["operation"]))
        if operation is PowerOperation.STATUS:
            return {"ok": True, "state": (await client.status()).value}
        if operation is PowerOperation.ON:
            await client.power_on()
        else:
            await client.power_off(force=operation is PowerOperation.FORCE_OFF)
        return {"ok": True}
    except PowerError as error:
        return {"ok": False, "error": {"message": error.detail, "category": error.category,
                                       "retriable": error.retriable}}
    finally:
        await client.close()


def _operation(word: str) -> PowerOperation:
    """The operation a request names (its value on the pipe, e.g. ``"force-off"``)."""
    try:
        return PowerOperation(word)
    except ValueError:
        raise PowerError(f"unknown operation {word!r}", category="rejected") from None


@dataclass
class _Child:
    id: int
    pid: int
    pipe: int
    deadline: float
    output: bytearray = field(default_factory=bytearray)


class WorkerServer:
    """Forks one child per request and relays each child's one answer."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, _Child] = {}
        self.pending = bytearray()
        self.stdin = sys.stdin.fileno()
        os.set_blocking(self.stdin, False)
        self.selector.register(self.stdin, selectors.EVENT_READ)

    def serve(self) -> None:
        """Until stdin closes: start requests, relay answers, stop overruns."""
        while True:
            for key, _ in self.selector.select(self._wait()):
                if key.fd == self.stdin:
                    if not self._read_requests():
                        self._stop_all()
                        return
                else:
                    self._read_child(key.fd)
            self._stop_overruns()

    def _wait(self) -> float | None:
        if not self.children:
            return None
        return max(0.0, min(child.deadline for child in self.children.values())
                   - time.monotonic())

    def _read_requests(self) -> bool:
        """Start each complete request line; False at end of input."""
        chunk = os.read(self.stdin, 65536)
        if not chunk:
            return False
        self.pending += chunk
        while b"\n" in self.pending:
            line, _, rest = bytes(self.pending).partition(b"\n")
            self.pending = bytearray(rest)
            message = json.loads(line)
            if message.get("cancel"):
                self._stop(message["id"], "stopped")
            else:
                self._start(message)
        return True

    def _start(self, message: dict[str, Any]) -> None:
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: run one operation, answer, leave
            os.close(readable)
            _run_child(writable, message["request"])
        os.close(writable)
        child = _Child(int(message["id"]), pid, readable,
                       time.monotonic() + float(message["deadline"]))
        self.children[child.pipe] = child
        self.selector.register(readable, selectors.EVENT_READ)

    def _read_child(self, pipe: int) -> None:
        child = self.children[pipe]
        chunk = os.read(pipe, 65536)
        if chunk:
            child.output += chunk
            return
        self._forget(child)
        _, status = os.waitpid(child.pid, 0)
        try:
            self._emit({"id": child.id, "answer": json.loads(child.output)})
        except ValueError:
            self._emit({"id": child.id, "died": os.waitstatus_to_exitcode(status)})

    def _stop_overruns(self) -> None:
        now = time.monotonic()
        for child in [c for c in self.children.values() if c.deadline <= now]:
            self._stop(child.id, "stopped")

    def _stop(self, request_id: int, reason: str) -> None:
        for child in [c for c in self.children.values() if c.id == request_id]:
            self._forget(child)
            _kill(child.pid)
            self._emit({"id": child.id, reason: True})

    def _stop_all(self) -> None:
        for child in list(self.children.values()):
            self._forget(child)
            _kill(child.pid)

    def _forget(self, child: _Child) -> None:
        self.selector.unregister(child.pipe)
        os.close(child.pipe)
        del self.children[child.pipe]

    @staticmethod
    def _emit(message: dict[str, Any]) -> None:
        os.write(sys.stdout.fileno(), json.dumps(message).encode() + b"\n")


def _run_child(pipe: int, request: dict[str, Any]) -> None:
    """In the forked child: never returns. Leaving with ``_exit`` skips pyghmi's exit
    hooks and threads, which may still wait on a silent BMC."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        answer = json.dumps(asyncio.run(perform(request))).encode()
        while answer:
            answer = answer[os.write(pipe, answer):]
        code = 0
    finally:
        os._exit(code)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def main() -> None:
    # Ctrl-C reaches the whole process group; the controller decides when this stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    WorkerServer().serve()


if __name__ == "__main__":
    main()
