"""Bounded load generators for the integration tests and benchmarks.

Every generator is a context manager that stops what it started (by PID) and removes
what it created, whatever happens inside the block.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

MEMORY_CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
"""The v1 memory controller on this hybrid hierarchy (v2 has no memory controller here)."""


@contextmanager
def cpu_hogs(count: int, *, seconds: float = 10.0) -> Iterator[list[int]]:
    """``count`` busy-looping processes, each ending by itself after ``seconds``."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]
    try:
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def memory_cgroup(limit_bytes: int) -> Iterator[Path]:
    """A fresh v1 memory cgroup with a hard limit, removed afterwards."""
    path = MEMORY_CGROUP_ROOT / f"bamel-test-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir()
    try:
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        yield path
    finally:
        for _ in range(50):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def write_in_cgroup(cgroup: Path, target: Path, *, megabytes: int, timeout: float = 30) -> None:
    """Write a file of ``megabytes`` from a process inside ``cgroup`` (page cache reclaim)."""
    script = (
        f"echo $$ > {cgroup / 'cgroup.procs'} && "
        f"dd if=/dev/zero of={target} bs=1M count={megabytes} status=none"
    )
    try:
        subprocess.run(["sh", "-c", script], check=True, timeout=timeout)
    finally:
        target.unlink(missing_ok=True)


def free_udp_port() -> int:
    """A loopback UDP port nobody listens on (bound, read, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def udp_flood(*, seconds: float, port: int, payload: int = 1024) -> int:
    """Send UDP datagrams to 127.0.0.1:port for ``seconds``; return how many were sent."""
    data = b"x" * payload
    sent = 0
    end = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while time.monotonic() < end:
            with suppress(ConnectionRefusedError):
                sock.sendto(data, ("127.0.0.1", port))
                sent += 1
    return sent


@contextmanager
def udp_sink() -> Iterator[int]:
    """A loopback UDP socket that receives (and discards) in the kernel buffer: its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
