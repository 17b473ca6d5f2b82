"""The reaction benchmark's fleet, schedule and scan-loop arithmetic, and its wiring run
in one process: a crossing on a pool's ready node powers that pool's spare on."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time

import pytest

from benchmarks import reaction_bench
from benchmarks.procs import ask
from benchmarks.reaction_bench import (
    Outcome,
    fleet,
    percentile,
    ready_records,
    scan_latencies,
    schedule,
)
from benchmarks.swarm import Swarm
from controller.planning import MachineState


def test_each_pool_has_a_ready_machine_on_an_agent_node_and_a_spare() -> None:
    config = fleet(3)
    assert [p.name for p in config.pools] == ["pool-000", "pool-001", "pool-002"]
    assert [(m.name, m.pool) for m in config.machines][:2] == [
        ("ready-000", "pool-000"), ("spare-000", "pool-000")]
    assert all(p.scale_up.stabilization_window == 0.0 for p in config.pools)
    records = ready_records(3, now=1000.0)
    assert records["ready-002"].state is MachineState.READY
    assert records["ready-002"].kubernetes_node == "node-00002"
    assert "spare-000" not in records


def test_the_schedule_hits_every_pool_once_at_rising_times() -> None:
    events = schedule(50, 0.25, random.Random(1))
    assert sorted(pool for _, pool in events) == list(range(50))
    times = [at for at, _ in events]
    assert times == sorted(times) and times[0] > 0


def test_a_scan_loop_acts_at_the_next_tick_plus_a_pass() -> None:
    assert scan_latencies([0.0, 3.0, 9.5, 10.0, 12.0], period=10.0, phase=4.0,
                          planning=0.5) == pytest.approx([4.5, 1.5, 5.0, 4.5, 2.5])


def test_percentiles_are_taken_from_the_sorted_values() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0


def test_the_lines_split_the_figure_and_compare_with_a_scan_loop() -> None:
    outcome = Outcome(sent={0: 1.0, 1: 2.0}, received={0: 1.001, 1: 2.002},
                      powered={0: 1.010, 1: 2.050}, other_power_ons=0,
                      passes=[0.004, 0.006], controller=0.4, others=0.0)
    first, second, _ = outcome.lines(phase=5.0)
    assert first.startswith("reaction: p50 50 ms, p99 50 ms at 10000 agents; a 10 s scan "
                            "loop on the same events: p50 4005 ms, p99 4005 ms")
    assert "2 of 2 crossings powered their pool's spare on" in second


async def test_a_crossing_powers_its_pools_spare_on_and_nothing_else() -> None:
    ours, theirs = multiprocessing.Pipe()
    loop = asyncio.get_running_loop()

    async def request(name: str) -> object:
        return await loop.run_in_executor(None, ask, ours, name)

    controller = asyncio.create_task(reaction_bench._controller(theirs, "s", 6, 3))
    swarm = Swarm(host="127.0.0.1", port=int(await request("port")), secret="s")  # type: ignore[call-overload]
    try:
        assert await swarm.connect(list(range(6))) == 6
        for agent in swarm.agents.values():
            agent.send()
        started = time.monotonic()
        sent = dict(await swarm.spike([(0.0, 1)], reaction_bench.HIGH))
        powered: list[tuple[str, float]] = []
        crossed: dict[str, float] = {}
        async with asyncio.timeout(10):
            while not powered:
                await asyncio.sleep(0.05)
                powered, crossed = await request("powered")  # type: ignore[misc]
        assert [machine for machine, _ in powered] == ["spare-001"]
        assert started <= sent[1] <= crossed["node-00001"] <= powered[0][1]
        assert await request("passes")
    finally:
        swarm.close()
        await request("stop")
        await controller
