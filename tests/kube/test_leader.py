"""Two replicas in separate processes: only one leads, and the survivor takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from lab.controlplane import ControlPlane
from tests.kube.elector import TIMINGS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _history(log: Path) -> list[tuple[str, float]]:
    lines = log.read_text().split("\n") if log.exists() else []
    return [(who, float(at)) for who, at in (line.split() for line in lines if line)]


async def test_survivor_leads_within_lease_and_never_two_at_once(
    control_plane: ControlPlane, namespace: str, tmp_path: Path,
) -> None:
    log = tmp_path / "leading.log"
    replicas = {
        who: await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.kube.elector", str(control_plane.kubeconfig),
            namespace, who, str(log), cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for who in ("replica-a", "replica-b")
    }
    try:
        while not _history(log):  # noqa: ASYNC110 - the log is the other processes' voice
            await asyncio.sleep(0.1)
        await asyncio.sleep(2 * TIMINGS.retry_seconds)
        leaders = {who for who, _ in _history(log)}
        assert len(leaders) == 1
        leader = leaders.pop()
        replicas[leader].send_signal(signal.SIGKILL)
        await replicas[leader].wait()
        killed_at = time.time()  # after the wait: the dead leader writes nothing later
        survivor = next(who for who in replicas if who != leader)
        deadline = killed_at + TIMINGS.lease_seconds + 2 * TIMINGS.retry_seconds + 1.0
        while not any(who == survivor for who, _ in _history(log)):
            assert time.time() < deadline, "the survivor did not take over in time"
            await asyncio.sleep(0.1)
        history = _history(log)
        first_survivor = min(at for who, at in history if who == survivor)
        last_leader = max(at for who, at in history if who == leader)
        assert last_leader <= killed_at < first_survivor
        assert first_survivor - killed_at <= TIMINGS.lease_seconds + 2 * TIMINGS.retry_seconds
    finally:
        for process in replicas.values():
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()
