"""Agent benchmarks: probe cost per event, agent CPU and RSS, scheduler slowdown,
and how the CPU level tracks PSI's cpu "some".

Every load is bounded in time and stopped by PID; ``kernel.bpf_stats_enabled`` is
put back as it was found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from agent.model import ModelSettings, Reading, level_between
from agent.probes import Probe, load, specs
from agent.procfs import ProcReader
from tests.agent.loads import cpu_hogs, free_udp_port, udp_flood

BPF_STATS = Path("/proc/sys/kernel/bpf_stats_enabled")
PING_PONG = """
import os, sys, time
n = int(sys.argv[1]); r1, w1 = os.pipe(); r2, w2 = os.pipe()
if os.fork() == 0:
    for _ in range(n): os.read(r1, 1); os.write(w2, b"x")
    os._exit(0)
t = time.perf_counter()
for _ in range(n): os.write(w1, b"x"); os.read(r2, 1)
print(time.perf_counter() - t); os.wait()
"""


@contextmanager
def bpf_stats() -> Iterator[None]:
    before = BPF_STATS.read_text().strip()
    BPF_STATS.write_text("1")
    try:
        yield
    finally:
        BPF_STATS.write_text(before)


def programs() -> list[dict[str, object]]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    progs: list[dict[str, object]] = json.loads(out)
    return progs


def prog_costs(new_ids: set[object]) -> dict[str, tuple[int, int]]:
    """run_time_ns and run_cnt of the programs loaded since ``new_ids`` was taken, by name."""
    costs: dict[str, tuple[int, int]] = {}
    for prog in programs():
        if prog.get("id") in new_ids:
            ns, cnt = prog.get("run_time_ns", 0), prog.get("run_cnt", 0)
            assert isinstance(ns, int) and isinstance(cnt, int)
            costs[str(prog.get("name", "?"))] = (ns, cnt)
    return costs


def per_event_cost() -> list[str]:
    with bpf_stats():
        existing = {prog.get("id") for prog in programs()}
        probes = {r: load(s) for r, s in specs().items()}
        ours = {prog.get("id") for prog in programs()} - existing
        try:
            with cpu_hogs(3, seconds=3):
                udp_flood(seconds=1.0, port=free_udp_port())
                time.sleep(1.0)
            costs = prog_costs(ours)
        finally:
            for probe in probes.values():
                probe.close()
    lines = []
    total_ns = total_cnt = 0
    for name, (ns, cnt) in sorted(costs.items()):
        total_ns, total_cnt = total_ns + ns, total_cnt + cnt
        if cnt:
            lines.append(f"agent: probe {name}: {ns / cnt:.0f} ns/event over {cnt} events")
    if total_cnt:
        lines.append(f"agent: probes mean: {total_ns / total_cnt:.0f} ns/event (target ≤ 150)")
    return lines


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def running(argv: list[str], *, settle_s: float) -> Iterator[int]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle_s)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_argv() -> list[str]:
    return [sys.executable, "-m", "bamel", "agent", "--interval", "1", "--metrics-port", "0"]


def agent_footprint() -> list[str]:
    lines = []
    with running(agent_argv(), settle_s=4) as pid:
        for label, hogs in (("idle", 0), ("under load", 4)):
            with cpu_hogs(hogs, seconds=8):
                start = proc_cpu_s(pid)
                time.sleep(6)
                used = (proc_cpu_s(pid) - start) / 6 * 100
            lines.append(f"agent: CPU {label}: {used:.2f} % of one core (target ≤ 1 %)")
            lines.append(f"agent: RSS {label}: {rss_mib(pid):.0f} MiB (target ≤ 150)")
    return lines


def ping_pong(n: int = 200_000) -> float:
    out = subprocess.run([sys.executable, "-c", PING_PONG, str(n)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return float(out.strip())


def best_of(runs: int) -> float:
    return min(ping_pong() for _ in range(runs))


def switch_storm() -> list[str]:
    base = best_of(3)
    with running(agent_argv(), settle_s=4):
        with_agent = best_of(3)
    runqlat = "/usr/sbin/runqlat-bpfcc"
    with running([runqlat, "10", "100"], settle_s=4):
        with_runqlat = best_of(3)
    return [
        f"agent: pipe ping-pong 200k round trips: {base:.2f} s without probes",
        f"agent: slowdown with the agent's probes: {(with_agent / base - 1) * 100:+.1f} % "
        "(target ≤ 10 %)",
        f"agent: slowdown with runqlat-bpfcc: {(with_runqlat / base - 1) * 100:+.1f} %",
    ]


def psi_correlation() -> list[str]:
    probe: Probe = load(specs()["cpu"])
    proc = ProcReader()
    cpus = float(os.cpu_count() or 1)
    ours, psi = [], []
    try:
        for hogs in (0, 1, 2, 3, 4, 6, 3, 1, 0):
            with cpu_hogs(hogs, seconds=3):
                time.sleep(0.3)
                before = Reading("ebpf", time.monotonic(), probe.read(), parallelism=cpus)
                psi_before = proc.cpu()["stall_ns"]
                time.sleep(1.0)
                after = Reading("ebpf", time.monotonic(), probe.read(), parallelism=cpus)
                psi_after = proc.cpu()["stall_ns"]
            ours.append(level_between("cpu", before, after, ModelSettings()) or 0.0)
            psi.append(min(1.0, (psi_after - psi_before) / 1e9 / (after.at - before.at)))
    finally:
        probe.close()
    r = float(np.corrcoef(ours, psi)[0, 1])
    pairs = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(ours, psi, strict=True))
    return [f"agent: CPU level vs PSI cpu some: r = {r:.3f} (ebpf/psi per step: {pairs})"]


def run() -> list[str]:
    """All agent figures, one line each."""
    if os.geteuid() != 0:
        return ["agent: skipped (needs root for BPF)"]
    lines: list[str] = []
    for part in (per_event_cost, agent_footprint, switch_storm, psi_correlation):
        try:
            lines += part()
        except Exception as error:
            lines.append(f"agent: {part.__name__} failed: {error}")
        with suppress(Exception):
            print("\n".join(lines[-3:]), file=sys.stderr, flush=True)
    return lines
