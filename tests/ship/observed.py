"""Peers of the observability test: Prometheus, and the project's own commands as processes.

Each runs on 127.0.0.1 on a free port, logs to a file in the test's directory and is
stopped by PID (``lab.peers.process``); waits are async so the test's hollow node
keeps its heartbeat meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from lab.peers.process import LOOPBACK, PeerProcess, free_port


async def until(check: Callable[[], Awaitable[bool]], *, within: float,
                every: float = 0.25) -> bool:
    """Poll check until it says yes: True, or False when ``within`` seconds pass first."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return True
                await asyncio.sleep(every)
    except TimeoutError:
        return False


async def get(url: str, **headers: str) -> tuple[int, str]:
    """Status and body of a GET; status 0 when nothing answers."""
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as r:
            return r.status, await r.text()
    except aiohttp.ClientError:
        return 0, ""


@contextmanager
def bamel(args: Sequence[str], *, workdir: Path, name: str,
          env: dict[str, str] | None = None) -> Iterator[PeerProcess]:
    """``python -m bamel ARGS`` as a child process, stopped by PID on exit."""
    process = PeerProcess([sys.executable, "-m", "bamel", *args], log_path=workdir / f"{name}.log",
                          cwd=workdir, env={**os.environ, **(env or {})})
    try:
        yield process
    finally:
        process.stop()


class Prometheus:
    """Debian's Prometheus scraping the given targets every second."""

    def __init__(self, workdir: Path, jobs: dict[str, tuple[int, dict[str, str]]], *,
                 flags: Sequence[str] = ()) -> None:
        """flags: more command-line flags, e.g. a retention that keeps backfilled weeks."""
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = workdir / "prometheus.yml"
        scrape = "\n".join(
            f"  - job_name: {job}\n    static_configs:\n"
            f"      - targets: ['{LOOPBACK}:{port}']\n        labels: {labels or {}}"
            for job, (port, labels) in jobs.items())
        config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                          f"scrape_configs:\n{scrape}\n")
        self.process = PeerProcess(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address={LOOPBACK}:{self.port}", *flags],
            log_path=workdir / "prometheus.log", cwd=workdir)
        self.started = time.time()

    async def ready(self) -> bool:
        status, _ = await get(f"{self.url}/-/ready")
        return status == 200

    async def query(self, expr: str, *, instant: bool) -> dict[str, Any]:
        """The API's answer to a query, over the whole run at 1 s steps unless instant."""
        now = time.time()
        params = ({"query": expr, "time": f"{now:.3f}"} if instant else
                  {"query": expr, "start": f"{self.started:.3f}", "end": f"{now:.3f}",
                   "step": "1"})
        path = "query" if instant else "query_range"
        async with aiohttp.ClientSession() as session, \
                session.get(f"{self.url}/api/v1/{path}", params=params) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    def stop(self) -> None:
        self.process.stop()
