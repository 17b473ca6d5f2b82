"""The loader process on this kernel: the agent holds the probes, never BCC.

The probes must keep counting after the loader has exited, the agent process must
never have BCC or LLVM in it, and closing the agent's descriptors must leave nothing
of the probes in the kernel (checked with bpftool, which reports who holds what).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.bpfsys import CounterMap
from agent.handoff import run_loader
from agent.probes import Probe, adopt_all
from agent.programs import ProbeSpec, specs

pytestmark = [pytest.mark.integration, pytest.mark.root]
PERCPU_ARRAY = 6

AGENT_PROCESS = """
import json, sys
from agent.sampler import Sampler
sampler = Sampler()
sampler.start()
readings = sampler.read()
mapped = sorted({line.split()[-1] for line in open("/proc/self/maps")
                 if "libbcc" in line or "LLVM" in line or "clang" in line})
print(json.dumps({"sources": sampler.sources(), "bcc": "bcc" in sys.modules,
                  "mapped": mapped, "read": sorted(readings),
                  "waits": readings["cpu"].counters["waits"]}))
sampler.close()
"""


def bpftool(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    found: list[dict[str, Any]] = json.loads(out) if out.strip() else []
    return found


def held_by(pid: int) -> list[dict[str, Any]]:
    """The tracepoint attachments (perf events) process ``pid`` holds."""
    return [entry for entry in bpftool("perf", "show") if entry["pid"] == pid]


def until(condition: Any, *, within_s: float = 15.0) -> bool:
    """Poll: the kernel frees programs and maps after the last reference, a little later."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def loaded() -> Iterator[tuple[dict[str, Probe], int]]:
    wanted = list(specs().values())
    result = run_loader(wanted, timeout_s=120)
    assert result.refused == {}
    assert result.loader_status == 0
    probes, refused = adopt_all(wanted, result)
    assert refused == {}
    yield probes, result.loader_pid
    for probe in probes.values():
        probe.close()


def test_the_agent_process_never_imports_bcc_or_maps_llvm() -> None:
    result = subprocess.run([sys.executable, "-c", AGENT_PROCESS], capture_output=True,
                            text=True, timeout=180, check=True)
    body = json.loads(result.stdout)
    assert body["sources"] == {"cpu": "ebpf", "memory": "ebpf", "network": "ebpf"}
    assert body["read"] == ["cpu", "memory", "network"]
    assert body["waits"] > 0
    assert body["bcc"] is False
    assert body["mapped"] == []


def test_attachments_outlive_the_loader(loaded: tuple[dict[str, Probe], int]) -> None:
    probes, loader_pid = loaded
    assert not Path(f"/proc/{loader_pid}").exists()
    assert held_by(loader_pid) == []
    ours = {entry["tracepoint"] for entry in held_by(os.getpid())}
    expected = {link.split(":")[1] for probe in probes.values() for link in probe.links}
    assert expected <= ours
    assert {"sched_switch", "sched_wakeup", "netif_receive_skb", "kfree_skb"} <= expected
    before = probes["cpu"].read()
    time.sleep(0.3)
    after = probes["cpu"].read()
    assert after["waits"] > before["waits"]
    assert after["stall_ns"] > before["stall_ns"]
    assert sum(after[f"hist_{i}"] for i in range(26)) == pytest.approx(after["waits"], abs=50)
    assert probes["memory"].read()["faults"] > 0


def test_key_by_key_reads_agree_with_batches(loaded: tuple[dict[str, Probe], int]) -> None:
    probes, _ = loaded
    for probe in probes.values():
        for name, batched in probe.maps.items():
            walked = CounterMap(os.dup(batched.fd), batched=False)
            try:
                first = batched.totals()
                second = walked.totals()
                third = batched.totals()
            finally:
                walked.close()
            assert set(second) <= set(third), name
            if batched.info.type == PERCPU_ARRAY:
                assert len(first) == batched.info.max_entries, name
                assert set(first) == set(second) == set(third), name
            for key, total in second.items():
                assert first.get(key, 0) <= total <= third[key], (name, key)


def test_closing_detaches_and_frees_everything(loaded: tuple[dict[str, Probe], int]) -> None:
    probes, _ = loaded
    links = {fd for probe in probes.values() for fd in probe.links.values()}
    programs = {e["prog_id"] for e in held_by(os.getpid()) if e["fd"] in links}
    maps = {m.info.id for probe in probes.values() for m in probe.maps.values()}
    assert len(programs) == len(links)
    for probe in probes.values():
        probe.close()
        probe.close()
    assert not programs & {e["prog_id"] for e in held_by(os.getpid())}
    assert until(lambda: not programs & {p["id"] for p in bpftool("prog", "show")})
    assert until(lambda: not maps & {m["id"] for m in bpftool("map", "show")})
    for probe in probes.values():
        assert probe.links == {}
        assert all(m.fd == -1 for m in probe.maps.values())


def test_a_refused_probe_costs_only_its_resource() -> None:
    good = specs()["cpu"]
    wanted = [
        good,
        ProbeSpec("memory", "missing.bpf.c", "mem_counters", 6),
        ProbeSpec("network", "netstat.bpf.c", "net_counters", 6, defines=("NET_COUNTERS=(",)),
    ]
    probes, refused = adopt_all(wanted, run_loader(wanted, timeout_s=120))
    try:
        assert set(probes) == {"cpu"}
        assert "missing.bpf.c" in refused["memory"]
        assert "netstat.bpf.c refused" in refused["network"]
        assert "error:" in refused["network"]  # the compiler's own words
        assert probes["cpu"].read()["waits"] > 0
    finally:
        for probe in probes.values():
            probe.close()
