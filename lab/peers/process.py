"""Shared plumbing for peer launchers: free ports, readiness waits, stopping by PID.

A peer that fails to start must say why, so its output goes to a log file in its
temporary directory and the tail of that log is in the error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


class PeerError(RuntimeError):
    """A peer did not start or did not become ready."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 now (TCP by default, ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_accepts(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.2):
        return True
    return False


def udp_bound(port: int) -> bool:
    """True when something holds UDP 127.0.0.1:port (our bind attempt fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


class PeerProcess:
    """One child process with its log file; ``stop`` is safe to call twice."""

    def __init__(self, argv: Sequence[str], *, log_path: Path, cwd: Path,
                 env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(
            self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        self.pid = self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``ready`` until true; raise with the log's tail if the peer died or timed out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running():
                raise PeerError(f"{what} exited {self._process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PeerError(f"{what} not ready after {timeout:g} s: {self.log_tail()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the PID, SIGKILL if it lingers, then whatever it left in its group.

        The peer leads a process group of its own; helpers it started and did not
        stop (a controller's IPMI worker server, say) go with it, as they would
        with its container.
        """
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self._process.wait(timeout)
        self._kill_group()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole group and reap the PID: no chance to clean up, as in a crash."""
        if self.running():
            self._kill_group()
            self._process.wait()
        self._log.close()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def log_tail(self, limit: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-limit:]


class TempDirPeer:
    """A peer process that owns a temporary directory; ``stop`` ends the one, removes the other.

    Subclasses set ``_dir`` and ``_process`` in ``start``; ``stop`` is safe to call twice.
    """

    _dir: Path | None = None
    _process: PeerProcess | None = None

    def running(self) -> bool:
        """Whether the peer's process is alive (False once stopped or killed)."""
        return self._process is not None and self._process.running()

    def stop(self) -> None:
        """Stop the process by PID and remove the temporary directory."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
