"""Loading, reading and detaching the eBPF pressure probes through BCC.

Each resource's probe is its own ``bpf/*.bpf.c`` file, compiled and attached on its
own, so a kernel that refuses one probe costs only that resource its eBPF source (it
falls back to PSI and /proc, see agent/sampler.py). BCC is imported here and nowhere
else; when it is missing every load raises :class:`ProbeError`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.resources
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


class ProbeError(RuntimeError):
    """A probe could not be compiled, attached or read; the resource must fall back."""


@dataclass(frozen=True)
class ProbeSpec:
    """What to compile for one resource: the C file, its counter table, its defines."""

    resource: str
    source: str
    table: str
    counters: int
    defines: tuple[str, ...] = ()


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
        "network": ProbeSpec("network", "netstat.bpf.c", "net_counters", 6),
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
    ]
    for name in ("pressure.h", "pressure.bpf.h", spec.source):
        parts += [f"// ---- {name}", (directory / name).read_text()]
    return "\n".join(parts)


def drop_reason_names(*, tracefs: Path = TRACEFS) -> dict[int, str]:
    """Drop reason values → names, from the running kernel's kfree_skb format file.

    Header enums drift between kernels; the format file is what this kernel prints.
    """
    try:
        text = (tracefs / "events/skb/kfree_skb/format").read_text()
    except OSError:
        return {}
    return {int(value): name for value, name in re.findall(r'\{\s*(\d+),\s*"(\w+)"\s*\}', text)}


def _trim_heap() -> None:
    """Give the compiler's freed heap back to the OS, so RSS reflects what is held."""
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


@dataclass
class Probe:
    """One attached probe; :meth:`read` returns its cumulative counters."""

    spec: ProbeSpec
    bpf: Any
    reasons: dict[int, str] = field(default_factory=dict)

    def _sums(self) -> list[int]:
        table = self.bpf[self.spec.table.encode()]
        return [int(table.sum(index).value) for index in range(self.spec.counters)]

    def read(self) -> dict[str, float]:
        """Counters in the model's names (see agent/model.py), summed over CPUs."""
        try:
            sums = self._sums()
            if self.spec.resource == "cpu":
                return _cpu_counters(sums)
            if self.spec.resource == "memory":
                return _memory_counters(sums)
            return _network_counters(sums)
        except Exception as error:
            raise ProbeError(f"{self.spec.resource} probe read failed: {error}") from error

    def drops_by_reason(self) -> dict[str, float]:
        """Cumulative drops per reason name (network probe only)."""
        if self.spec.resource != "network":
            return {}
        out: dict[str, float] = {}
        for key, values in self.bpf[b"drop_counts"].items():
            name = self.reasons.get(key.value, str(key.value))
            out[name] = out.get(name, 0.0) + float(sum(values))
        return out

    def close(self) -> None:
        """Detach and unload; safe to call twice."""
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None


def _cpu_counters(sums: list[int]) -> dict[str, float]:
    out = {"stall_ns": float(sums[0]), "waits": float(sums[1])}
    for slot in range(RUNQ_HIST_SLOTS):
        out[f"hist_{slot}"] = float(sums[2 + slot])
    return out


def _memory_counters(sums: list[int]) -> dict[str, float]:
    return {
        "stall_ns": float(sums[0] + sums[2]),
        "direct_ns": float(sums[0]),
        "memcg_ns": float(sums[2]),
        "reclaims": float(sums[1] + sums[3]),
        "faults": float(sums[4]),
        "compact_stalls": float(sums[5]),
    }


def _network_counters(sums: list[int]) -> dict[str, float]:
    names = ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "drops", "retransmits")
    return {name: float(value) for name, value in zip(names, sums, strict=True)}


def _import_bcc() -> Any:
    try:
        import bcc  # noqa: PLC0415 - optional: only where BCC is installed
    except ImportError as error:
        raise ProbeError(f"BCC is not available: {error}") from error
    return bcc


def load(spec: ProbeSpec) -> Probe:
    """Compile and attach one probe, or raise :class:`ProbeError` saying why not."""
    bcc = _import_bcc()
    path = bpf_dir() / spec.source
    try:
        with _quiet_stderr():
            bpf = bcc.BPF(src_file=str(path).encode(), cflags=cflags(spec))
    except Exception as error:
        raise ProbeError(f"{spec.resource} probe {spec.source} refused: {error}") from error
    _trim_heap()
    reasons = drop_reason_names() if spec.resource == "network" else {}
    return Probe(spec=spec, bpf=bpf, reasons=reasons)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Keep the compiler's warnings out of the agent's log unless debugging."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
