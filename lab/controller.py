"""The controller as a child process: started, killed with SIGKILL, restarted.

The lab runs ``bamel controller`` exactly as a Deployment would, as its own
process with its own flags, so a test can kill it mid-action and start it again
and see what a crash really leaves behind. Its output goes to a log file in the
lab's directory; the tail is in the error when it does not come up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from lab.peers.process import LOOPBACK, PeerError, PeerProcess, free_port


@dataclass(frozen=True)
class ControllerOptions:
    kubeconfig: Path
    config: Path
    tokens: Path
    namespace: str = "bamel-system"
    identity: str = "lab-controller"
    leader_elect: bool = True
    dry_run: bool = False
    startup_timeout: float = 60.0
    log_level: str = "info"


class ControllerProcess:
    """``bamel controller`` on 127.0.0.1:port; the port is kept across restarts."""

    def __init__(self, options: ControllerOptions, *, log_path: Path,
                 port: int | None = None) -> None:
        self.options = options
        self.log_path = log_path
        self.port = port or free_port()
        self.starts = 0
        self._process: PeerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/v1/stream"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def argv(self) -> list[str]:
        o = self.options
        argv = [sys.executable, "-m", "bamel", "controller", "--kubeconfig", str(o.kubeconfig),
                "--config", str(o.config), "--listen", f"{LOOPBACK}:{self.port}",
                "--agent-tokens", str(o.tokens), "--namespace", o.namespace,
                "--identity", o.identity, "--log-format", "json", "--log-level", o.log_level]
        if not o.leader_elect:
            argv.append("--no-leader-elect")
        if o.dry_run:
            argv.append("--dry-run")
        return argv

    async def start(self) -> ControllerProcess:
        """Start it and wait until /healthz answers 200."""
        self._process = PeerProcess(
            self.argv(), log_path=self.log_path, cwd=self.log_path.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.starts += 1
        await self._wait_healthy()
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, as when a node dies."""
        if self._process is not None:
            self._process.kill()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; safe to call twice."""
        if self._process is not None:
            await asyncio.to_thread(self._process.stop, 15.0)

    async def restart(self) -> ControllerProcess:
        await self.stop()
        return await self.start()

    async def get_json(self, path: str) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                session.get(self.url + path) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def get_text(self, path: str) -> str:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                session.get(self.url + path) as answer:
            answer.raise_for_status()
            return await answer.text()

    def log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    async def _wait_healthy(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.startup_timeout
        while loop.time() < deadline:
            if not self.running():
                raise PeerError(f"bamel controller exited: {self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                await self.get_text("/healthz")
                return
            await asyncio.sleep(0.2)
        await self.stop()
        raise PeerError(f"bamel controller not healthy after "
                        f"{self.options.startup_timeout:g} s: {self.log_tail()}")
