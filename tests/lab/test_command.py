"""``bamel lab`` as a user runs it: a bounded headless run, and a run stopped by a signal.

Both must end with the summary and leave nothing behind: no process the lab started
(its whole tree is recorded while it runs), no listener on the ports those processes
held, no new mount.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

from bamel.cli import SUBCOMMANDS
from lab.controlplane import BINARIES

pytestmark = pytest.mark.integration

LISTEN = "0A"
"""TCP state LISTEN in /proc/net/tcp."""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def _bound(inodes: set[str] | None = None) -> dict[str, tuple[str, str]]:
    """inode → (protocol, local address) of TCP listeners and UDP sockets."""
    sockets = {}
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
                fields = line.split()
                if protocol.startswith("tcp") and fields[3] != LISTEN:
                    continue
                if inodes is None or fields[9] in inodes:
                    sockets[fields[9]] = (protocol, fields[1])
    return sockets


def _mounts() -> set[str]:
    return set(Path("/proc/mounts").read_text().splitlines())


class _Run:
    """One ``bamel lab`` process, with everything it started recorded while it runs."""

    def __init__(self, *args: str) -> None:
        self.args = [sys.executable, "-m", "bamel", "lab", "--headless", "--no-bpf", *args]
        self.pids: set[int] = set()
        self.sockets: dict[str, tuple[str, str]] = {}
        self.mounts = _mounts()
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> _Run:
        self.process = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return self

    def record(self) -> None:
        assert self.process is not None
        pids = _descendants(self.process.pid)
        self.pids |= pids
        self.sockets.update(_bound(_socket_inodes(pids | {self.process.pid})))

    async def lines_until(self, marker: str, within: float) -> list[str]:
        assert self.process is not None and self.process.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(within):
            while True:
                self.record()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        line = (await self.process.stdout.readline()).decode()
                        if not line:
                            return lines
                        lines.append(line)
                        if marker in line:
                            return lines

    def assert_nothing_left(self) -> None:
        alive = sorted(pid for pid in self.pids if Path(f"/proc/{pid}").exists())
        assert not alive, f"processes left behind: {alive}"
        assert self.pids and self.sockets, "the lab's processes and listeners were not seen"
        still = set(_bound()) & set(self.sockets)
        assert not still, f"listeners left behind: {[self.sockets[i] for i in still]}"
        assert _mounts() <= self.mounts, f"new mounts: {_mounts() - self.mounts}"


@pytest.fixture(autouse=True)
def _needs_the_system() -> None:
    if not (BINARIES / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BINARIES}: run `make system`")
    if "controller" not in SUBCOMMANDS:
        pytest.skip("`bamel controller` is not available in this checkout")


async def test_a_bounded_headless_run_prints_the_summary_and_exits_0() -> None:
    run = await _Run("--duration", "25s").start()
    lines = await run.lines_until("pending pod-seconds", within=240)
    assert run.process is not None
    code = await asyncio.wait_for(run.process.wait(), 60)
    output = "".join(lines)
    assert code == 0, output
    assert "decide general: power-on" in output  # the workload made the controller act
    for field in ("power-ons:", "power-offs:", "energy used:", "all machines on:",
                  "pending pod-seconds:"):
        assert field in output
    run.assert_nothing_left()


async def test_sigterm_stops_everything_and_leaves_nothing_behind() -> None:
    run = await _Run("--duration", "0", "--no-trace").start()
    assert run.process is not None
    await run.lines_until("power booting", within=180)  # machines are coming up
    for _ in range(5):  # let the tree settle: agent, streams, kubelets
        run.record()
        await asyncio.sleep(0.5)
    run.process.send_signal(signal.SIGTERM)
    lines = await run.lines_until("pending pod-seconds", within=120)
    code = await asyncio.wait_for(run.process.wait(), 60)
    assert code == 130, "".join(lines)
    run.assert_nothing_left()
