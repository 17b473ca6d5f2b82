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
from typing import Any

import numpy as np

from agent.handoff import run_loader
from agent.model import ModelSettings, Reading, level_between
from agent.probes import Probe, adopt_all, load
from agent.procfs import ProcReader
from agent.programs import specs
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


def bpftool(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    found: list[dict[str, Any]] = json.loads(out) if out.strip() else []
    return found


def prog_costs(ours: set[int]) -> dict[str, tuple[int, int]]:
    """run_time_ns and run_cnt of programs ``ours``, by name."""
    costs: dict[str, tuple[int, int]] = {}
    for prog in bpftool("prog", "show"):
        if prog.get("id") in ours:
            costs[str(prog.get("name", "?"))] = (int(prog.get("run_time_ns", 0)),
                                                 int(prog.get("run_cnt", 0)))
    return costs


def per_event_cost() -> list[str]:
    with bpf_stats():
        wanted = list(specs().values())
        handoff = run_loader(wanted, timeout_s=300)
        probes, refused = adopt_all(wanted, handoff)
        # The programs attached through the perf events this process now holds.
        ours = {int(e["prog_id"]) for e in bpftool("perf", "show") if e["pid"] == os.getpid()}
        try:
            with cpu_hogs(3, seconds=3):
                udp_flood(seconds=1.0, port=free_udp_port())
                time.sleep(1.0)
            costs = prog_costs(ours)
        finally:
            for probe in probes.values():
                probe.close()
    lines = [f"agent: probe loader (BCC, separate process, exits after handing over): "
             f"peak RSS {handoff.children_peak_rss_mib:.0f} MiB"]
    lines += [f"agent: probe {resource} refused: {why}" for resource, why in refused.items()]
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


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of ``pid``, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024
    return out


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


AGENT_ARGS = ["--interval", "1", "--metrics-port", "0"]


def agent_argv() -> list[str]:
    return [sys.executable, "-m", "bamel", "agent", *AGENT_ARGS]


def agent_footprint(*, steady_after_s: float = 60.0) -> list[str]:
    """CPU idle and under load, then RSS once the agent has sampled for a minute."""
    lines = []
    started = time.monotonic()
    with running(agent_argv(), settle_s=4) as pid:
        for label, hogs in (("idle", 0), ("under load", 4)):
            with cpu_hogs(hogs, seconds=8):
                start = proc_cpu_s(pid)
                time.sleep(6)
                used = (proc_cpu_s(pid) - start) / 6 * 100
            lines.append(f"agent: CPU {label}: {used:.2f} % of one core (target ≤ 1 %)")
        time.sleep(max(0.0, steady_after_s - (time.monotonic() - started)))
        memory = memory_mib(pid)
    lines.append(f"agent: RSS of `bamel agent` after {steady_after_s:.0f} s at a 1 s interval: "
                 f"{memory['VmRSS']:.0f} MiB, peak {memory['VmHWM']:.0f} MiB (target ≤ 150)")
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


HOG_STEPS = (0, 1, 2, 3, 4, 5, 6, 4, 3, 2, 1, 0)
"""CPU hogs per one-second step, up to three per core on the 2-core reference machine."""
BUSY_BACKGROUND = 0.3
"""PSI cpu "some" above which, with fewer hogs than cores, other work swamps the steps."""


def psi_correlation() -> list[str]:
    """The eBPF CPU level against PSI's cpu "some", over the same windows under steps of load."""
    probe: Probe = load(specs()["cpu"])
    proc = ProcReader()
    cpus = float(os.cpu_count() or 1)
    ours, psi = [], []
    load_average = os.getloadavg()[0]
    try:
        for hogs in HOG_STEPS:
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
    pairs = ", ".join(f"{n}:{a:.2f}/{b:.2f}" for n, a, b in zip(HOG_STEPS, ours, psi, strict=True))
    context = f"load average {load_average:.2f} before; hogs:ebpf/psi {pairs}"
    # With fewer hogs than cores nothing of ours need wait: PSI there is other work.
    background = max(p for n, p in zip(HOG_STEPS, psi, strict=True) if n < cpus)
    if background > BUSY_BACKGROUND or np.std(psi) == 0 or np.std(ours) == 0:
        return [f"agent: CPU level vs PSI cpu some: not measurable, other work saturates the "
                f"CPUs (PSI up to {background:.2f} with fewer hogs than cores; {context})"]
    r = float(np.corrcoef(ours, psi)[0, 1])
    return [f"agent: CPU level vs PSI cpu some: r = {r:.3f} ({context})"]


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
