"""This machine as a node of the lab: the real agent, measuring the real kernel.

Every other lab node's pressure is modelled from its pods; this one is measured.
``bamel agent`` runs as a child process (eBPF probes when BCC can load them, else
PSI and /proc, as it decides itself) and streams under the node name ``lab-host``.

The host must never be powered off, and it is not: it is not a machine in the
configuration, so no decision can choose it (the controller only acts on the
machines it is given), and its Node carries ``bamel.io/scale-down-disabled`` too, so
even a configuration that named it could not drain it. Its Node is tainted
``lab.bamel.io/host:NoSchedule`` so the workload's pods stay on the fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from lab.hollow import HollowNode
from lab.peers.process import LOOPBACK, PeerProcess, free_port

HOST_NODE = "lab-host"
SCALE_DOWN_DISABLED = "bamel.io/scale-down-disabled"
HOST_TAINT = {"key": "lab.bamel.io/host", "effect": "NoSchedule"}


class HostAgent:
    """The host's Node plus ``bamel agent`` streaming for it; ``close()`` stops both."""

    def __init__(self, *, kubeconfig: Path, stream_url: str, token_file: Path, log_path: Path,
                 name: str = HOST_NODE, use_bpf: bool = True) -> None:
        self.name = name
        self.kubeconfig = kubeconfig
        self.stream_url = stream_url
        self.token_file = token_file
        self.log_path = log_path
        self.use_bpf = use_bpf
        self.metrics_port = free_port()
        self.levels: dict[str, float] = {}
        self.sources: dict[str, str] = {}
        self._node: HollowNode | None = None
        self._process: PeerProcess | None = None

    async def start(self) -> HostAgent:
        self._node = HollowNode(
            kubeconfig=self.kubeconfig, name=self.name, capacity=_host_capacity(),
            labels={"lab.bamel.io/shape": "host"}, taints=[HOST_TAINT],
            annotations={SCALE_DOWN_DISABLED: "true"})
        try:
            await self._node.start()
        except BaseException:
            await self.close()
            raise
        argv = [sys.executable, "-m", "bamel", "agent", "--controller", self.stream_url,
                "--token-file", str(self.token_file), "--metrics-port", str(self.metrics_port)]
        if not self.use_bpf:
            argv.append("--no-bpf")
        self._process = PeerProcess(argv, log_path=self.log_path, cwd=self.log_path.parent,
                                    env={**os.environ, "NODE_NAME": self.name})
        return self

    async def close(self) -> None:
        """Stop the agent by PID (SIGTERM, then SIGKILL) and the node; safe twice."""
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(process.stop, 10.0)
        node, self._node = self._node, None
        if node is not None:
            with contextlib.suppress(ApiException, aiohttp.ClientError, OSError):
                await node.close(delete=True)

    async def __aenter__(self) -> HostAgent:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        """Read the agent's own levels and sources from its /metrics."""
        url = f"http://{LOOPBACK}:{self.metrics_port}/metrics"
        try:
            async with session.get(url) as answer:
                text = await answer.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "bamel_agent_pressure_level":
                    self.levels[sample.labels["resource"]] = sample.value
                elif sample.name == "bamel_agent_pressure_source" and sample.value == 1:
                    self.sources[sample.labels["resource"]] = sample.labels["source"]


def _host_capacity() -> dict[str, str]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": str(os.cpu_count() or 1), "memory": str(pages)}
