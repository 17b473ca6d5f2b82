"""Which BPF programs the agent runs: one C file per resource, and how each is compiled.

Shared by the agent (``--print-bpf``, reading the maps back) and the loader process
(agent/loader.py) that compiles them, so that what is printed is what is compiled.
No BCC here: this module is plain data about ``bpf/*.bpf.c``.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
RUNQ_HIST_SLOTS = 26
"""Mirrors bpf/pressure.h (a unit test keeps them equal)."""

COUNTER_INDEX: dict[str, dict[str, int]] = {
    "cpu": {"CPU_WAIT_NS": 0, "CPU_WAIT_COUNT": 1, "CPU_HIST_BASE": 2},
    "memory": {
        "MEM_DIRECT_NS": 0, "MEM_DIRECT_COUNT": 1, "MEM_MEMCG_NS": 2, "MEM_MEMCG_COUNT": 3,
        "MEM_FAULTS": 4, "MEM_COMPACT_STALLS": 5,
    },
    "network": {
        "NET_RX_BYTES": 0, "NET_RX_PACKETS": 1, "NET_TX_BYTES": 2, "NET_TX_PACKETS": 3,
        "NET_DROPS": 4, "NET_RETRANSMITS": 5,
    },
}
"""Counter indices per resource, mirroring the enums in bpf/pressure.h."""


@dataclass(frozen=True)
class ProbeSpec:
    """What to compile for one resource: the C file, the maps read back, its defines."""

    resource: str
    source: str
    table: str
    """The per-CPU array of counters, indexed by the enums in bpf/pressure.h."""
    counters: int
    defines: tuple[str, ...] = ()
    extra_maps: tuple[str, ...] = ()
    """Further maps the agent reads (the network probe's drops by reason)."""

    @property
    def maps(self) -> tuple[str, ...]:
        """Every map the agent reads from this probe."""
        return (self.table, *self.extra_maps)


def bpf_dir() -> Path:
    """The directory holding the BPF C sources (a data package)."""
    return Path(str(importlib.resources.files("bpf")))


def pid_slots() -> int:
    """Power of two ≥ the kernel's pid_max (capped at 2^20) for the run-queue start array."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 1 << 16
    return 1 << max(10, min(20, (pid_max - 1).bit_length()))


def specs(*, tracefs: Path = TRACEFS) -> dict[str, ProbeSpec]:
    """The probe for each resource, with defines chosen for the running kernel."""
    memory_defines: tuple[str, ...] = ()
    if (tracefs / "events/compaction/mm_compaction_try_to_compact_pages").is_dir():
        memory_defines = ("HAVE_COMPACTION",)
    return {
        "cpu": ProbeSpec("cpu", "runqlat.bpf.c", "cpu_counters", 2 + RUNQ_HIST_SLOTS,
                         (f"PID_SLOTS={pid_slots()}",)),
        "memory": ProbeSpec("memory", "reclaim.bpf.c", "mem_counters", 6, memory_defines),
        "network": ProbeSpec("network", "netstat.bpf.c", "net_counters", 6,
                             extra_maps=("drop_counts",)),
    }


def cflags(spec: ProbeSpec) -> list[str]:
    """The compiler flags BCC gets for one probe."""
    return [f"-I{bpf_dir()}", *(f"-D{define}" for define in spec.defines)]


def describe(spec: ProbeSpec) -> str:
    """Exactly what is compiled for a probe: file, flags and the sources it includes."""
    directory = bpf_dir()
    parts = [
        f"// {spec.resource}: {directory / spec.source}",
        f"// cflags: {' '.join(cflags(spec))}",
        f"// maps read back: {', '.join(spec.maps)}",
    ]
    for name in ("pressure.h", "pressure.bpf.h", spec.source):
        parts += [f"// ---- {name}", (directory / name).read_text()]
    return "\n".join(parts)
