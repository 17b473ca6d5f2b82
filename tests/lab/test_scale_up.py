"""Scale-up end to end: pending pods and pressure power the right machine on, for real.

The controller runs as its own process; each power-on must reach the machine's own
BMC (counted in ipmi_sim's chassis log), the machine's kubelet must join, and the
pods must run on it.
"""

from __future__ import annotations

import asyncio

import pytest

from lab.fleet import MachinePlan
from lab.rack import IpmiPower
from tests.lab.conftest import LabStarter, deploy, fleet_of, pods_by_node, power_commands, until

pytestmark = pytest.mark.integration


def _ipmi(name: str, cpu: str, memory: str, *, shape: str, idle: float = 100.0,
          mac: str = "52:54:00:3c:00:01") -> MachinePlan:
    return MachinePlan(name, "general", shape, cpu, memory, power="ipmi", boot_delay=1.0,
                       idle_watts=idle, mac=mac)


async def test_pending_pods_power_on_the_best_matching_machine_and_run_there(
    start_lab: LabStarter,
) -> None:
    lab = await start_lab(fleet_of(
        _ipmi("small", "4", "8Gi", shape="small"),
        _ipmi("cpu-heavy", "32", "32Gi", shape="cpu-heavy"),
        _ipmi("mem-heavy", "8", "256Gi", shape="memory-heavy"),
    ))
    await deploy(lab, "batch", replicas=3, cpu="6", memory="4Gi")  # 18 cores: one box fits

    async def running_on_cpu_heavy() -> bool:
        return len((await pods_by_node(lab, "batch")).get("cpu-heavy", [])) == 3
    await until(running_on_cpu_heavy, "3 batch pods running on cpu-heavy", lab)

    status = await lab.status()
    assert status.machine("cpu-heavy").state == "ready"
    assert power_commands(lab, "cpu-heavy") == ["set power 1"]
    first = status.decisions[0]
    assert (first["pool"], first["direction"], first["chosen"]) == \
        ("general", "power-on", ["cpu-heavy"])
    ranking = [c["name"] for c in first["rounds"][0]["candidates"]]
    assert ranking[0] == "cpu-heavy"
    assert set(ranking) == {"small", "cpu-heavy", "mem-heavy"}

    # Its boot was measured, from the power-on call to its Node Ready (a 1 s boot
    # delay, then the kubelet's registration), and shown in its BareMetalNode status.
    assert lab.cluster is not None
    shown = (await lab.cluster.machines())["cpu-heavy"]
    assert 1 <= shown["observedBootSeconds"] <= 30, shown
    assert shown["averageBootSeconds"] > 0, shown


async def test_memory_pressure_powers_on_the_memory_heavy_machine_and_explains_why(
    start_lab: LabStarter,
) -> None:
    # minNodes 1: the smallest machine comes on at start, with no pod waiting, so what
    # follows is decided by pressure alone.
    lab = await start_lab(fleet_of(
        _ipmi("starter", "8", "64Gi", shape="small", idle=50),
        _ipmi("cpu-heavy", "32", "16Gi", shape="cpu-heavy"),
        _ipmi("mem-heavy", "8", "256Gi", shape="memory-heavy"),
        min_nodes=1))

    async def starter_ready() -> bool:
        return (await lab.status()).machine("starter").state == "ready"
    await until(starter_ready, "starter ready", lab)
    # Memory-hungry pods that fit by their requests but use half as much again:
    # nothing is pending, memory pressure alone must decide.
    await deploy(lab, "cache", replicas=2, cpu="250m", memory="24Gi", load="memory=1.5,cpu=0.2")

    async def memory_decision() -> bool:
        return any(d["direction"] == "power-on" and "mem-heavy" in d["chosen"]
                   for d in (await lab.status()).decisions)
    await until(memory_decision, "a power-on of mem-heavy", lab)
    assert lab.cluster is not None
    await lab.cluster.scale("lab", "cache", 0)  # relieve it, so no further power-on follows

    status = await lab.status()
    decision = next(d for d in status.decisions if "mem-heavy" in d["chosen"])
    assert "memory" in decision["reason"]
    assert decision["levels"]["memory"] >= 0.6
    candidates = {c["name"]: c for c in decision["rounds"][0]["candidates"]}
    assert candidates["mem-heavy"]["rank"] == 1
    assert candidates["cpu-heavy"]["total"] > candidates["mem-heavy"]["total"]
    # Why: the CPU-heavy box would leave most of the memory demand uncovered.
    assert candidates["cpu-heavy"]["contributions"]["memory"] > \
        candidates["mem-heavy"]["contributions"]["memory"]

    async def mem_heavy_ready() -> bool:
        return (await lab.status()).machine("mem-heavy").state == "ready"
    await until(mem_heavy_ready, "mem-heavy ready", lab)
    assert power_commands(lab, "mem-heavy") == ["set power 1"]
    assert power_commands(lab, "cpu-heavy") == []


async def test_a_dead_bmc_puts_its_machine_in_error_and_the_next_candidate_is_powered_on(
    start_lab: LabStarter,
) -> None:
    lab = await start_lab(fleet_of(
        _ipmi("first-choice", "8", "16Gi", shape="small"),
        _ipmi("runner-up", "16", "32Gi", shape="small"),
    ))
    dead = lab.machines["first-choice"].peer
    assert isinstance(dead, IpmiPower)
    dead.stop_bmc()
    await deploy(lab, "web", replicas=2, cpu="3", memory="2Gi")

    async def failed() -> bool:
        row = (await lab.status()).machine("first-choice")
        return row.state == "error" and bool(row.last_error)
    await until(failed, "first-choice in error", lab)

    async def running_on_runner_up() -> bool:
        return len((await pods_by_node(lab, "web")).get("runner-up", [])) == 2
    await until(running_on_runner_up, "the pods running on runner-up", lab)

    status = await lab.status()
    first, *later = status.decisions
    assert first["chosen"] == ["first-choice"]
    assert any(d["chosen"] == ["runner-up"] for d in later)
    error = status.machine("first-choice").last_error
    assert "power on" in error
    assert power_commands(lab, "first-choice") == []  # nothing ever reached it
    assert power_commands(lab, "runner-up") == ["set power 1"]


async def test_one_pending_pod_powers_on_exactly_one_machine(start_lab: LabStarter) -> None:
    lab = await start_lab(fleet_of(
        _ipmi("one", "4", "8Gi", shape="small", idle=40),
        _ipmi("two", "4", "8Gi", shape="small", idle=50),
        _ipmi("three", "8", "16Gi", shape="small", idle=60),
    ))
    await deploy(lab, "single", replicas=1, cpu="500m", memory="512Mi")

    async def running() -> bool:
        return bool(await pods_by_node(lab, "single"))
    await until(running, "the pod running", lab)
    quiet_since = asyncio.get_running_loop().time()

    async def quiet_for_a_while() -> bool:
        nonlocal quiet_since
        now = asyncio.get_running_loop().time()
        if {m.state for m in (await lab.status()).machines} & {"powering-on", "joining"}:
            quiet_since = now
        return now - quiet_since > 8.0
    await until(quiet_for_a_while, "no machine booting for 8s", lab)
    powered = [name for name, machine in lab.machines.items() if machine.power_ons]
    assert powered == ["one"]
