"""End-to-end fixtures: a whole lab per test (control plane, rack, controller process).

Each test gets its own control plane, so machine names, Leases and BareMetalNodes
never leak between tests; a small fleet and second-scale timings keep each run
short. Tests drive the workload themselves (Deployments in ``lab``), and assert on
what reached the peers and the API server, never on how fast it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bamel.cli import SUBCOMMANDS
from lab.controlplane import BINARIES
from lab.fleet import Fleet, MachinePlan, PoolPlan, Timings
from lab.run import Lab, LabOptions

pytestmark = pytest.mark.integration

TIMINGS = Timings(stabilization_window="2s", cooldown="5s", unneeded_time="5s",
                  min_uptime="5s", drain_timeout="60s", boot_time="10s",
                  scale_up_per_minute=6, scale_up_batch=2, scale_down_per_minute=4,
                  scale_down_concurrent=1)
NAMESPACE = "lab"
POOL = {"bamel.io/pool": "general"}
PATIENCE = 90.0
"""Seconds a test waits for one step: generous, as the machine is shared and busy."""

LabStarter = Callable[..., Awaitable[Lab]]


def fleet_of(*machines: MachinePlan, min_nodes: int = 0) -> Fleet:
    return Fleet(pools=(PoolPlan("general", min_nodes=min_nodes),), machines=machines,
                 timings=TIMINGS)


@pytest.fixture
async def start_lab(tmp_path: Path) -> AsyncIterator[LabStarter]:
    """``lab = await start_lab(fleet)``: everything up, the controller healthy."""
    if not (BINARIES / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BINARIES}: run `make system`")
    if "controller" not in SUBCOMMANDS:
        pytest.skip("`bamel controller` is not available in this checkout")
    numbers = itertools.count()
    async with contextlib.AsyncExitStack() as stack:
        async def start(fleet: Fleet, **options: Any) -> Lab:
            workdir = tmp_path / f"lab{next(numbers)}"
            return await stack.enter_async_context(Lab(LabOptions(
                fleet=fleet, workload=False, trace=False, host_agent=False, duration=None,
                workdir=workdir, **options)))
        yield start


async def pods_by_node(lab: Lab, app: str) -> dict[str, list[str]]:
    """Running pods of app (not terminating), grouped by node."""
    assert lab.cluster is not None
    nodes: dict[str, list[str]] = {}
    for pod in await lab.cluster.pods(NAMESPACE):
        if (pod.metadata.labels or {}).get("app") == app and pod.status.phase == "Running" \
                and pod.metadata.deletion_timestamp is None:
            nodes.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
    return nodes


async def until(check: Callable[[], Awaitable[bool]], what: str, lab: Lab,
                within: float = PATIENCE) -> None:
    """Poll check until it holds; fail with the machines and the controller's log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            status = await lab.status()
            rows = [(m.name, m.power, m.state, m.last_error) for m in status.machines]
            raise AssertionError(f"{what}: not within {within:g}s; machines {rows}\n"
                                 f"controller log:\n{lab.controller_log()}")
        await asyncio.sleep(0.3)


async def deploy(lab: Lab, app: str, *, replicas: int, cpu: str, memory: str,
                 load: str = "") -> None:
    assert lab.cluster is not None
    await lab.cluster.deploy(NAMESPACE, app, replicas=replicas,
                             requests={"cpu": cpu, "memory": memory}, selector=POOL, load=load)


def power_commands(lab: Lab, machine: str) -> list[str]:
    """What reached the machine's own peer (its BMC's log, its sshd's record)."""
    return lab.machines[machine].peer.records()
