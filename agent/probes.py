"""The eBPF pressure probes as the agent holds them: loaded elsewhere, read here.

Each resource's probe is its own ``bpf/*.bpf.c`` file, compiled and attached on its own
by the loader process (agent/loader.py, through agent/handoff.py), so a kernel that
refuses one probe costs only that resource its eBPF source (it falls back to PSI and
/proc, see agent/sampler.py). The agent receives the descriptors of the probe's maps
and tracepoint attachments and reads the counters with bpf(2) (agent/bpfsys.py):
neither BCC nor LLVM is ever in this process.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.bpfsys import BpfError, CounterMap
from agent.handoff import Attached, Handoff, run_loader
from agent.programs import RUNQ_HIST_SLOTS, TRACEFS, ProbeSpec

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 120.0
"""Default for how long the loader may take to compile and attach (about 1.5 s idle)."""


class ProbeError(RuntimeError):
    """A probe could not be compiled, attached or read; the resource must fall back."""


def drop_reason_names(*, tracefs: Path = TRACEFS) -> dict[int, str]:
    """Drop reason values → names, from the running kernel's kfree_skb format file.

    Header enums drift between kernels; the format file is what this kernel prints.
    """
    try:
        text = (tracefs / "events/skb/kfree_skb/format").read_text()
    except OSError:
        return {}
    return {int(value): name for value, name in re.findall(r'\{\s*(\d+),\s*"(\w+)"\s*\}', text)}


def _key(key: bytes) -> int:
    return int.from_bytes(key, sys.byteorder)


@dataclass
class Probe:
    """One attached probe; :meth:`read` returns its cumulative counters."""

    spec: ProbeSpec
    maps: dict[str, CounterMap]
    links: dict[str, int]
    """Tracepoint → perf event descriptor; the probe is attached while these are open."""
    reasons: dict[int, str] = field(default_factory=dict)

    @classmethod
    def adopt(cls, spec: ProbeSpec, attached: Attached) -> Probe:
        """Take ownership of a handed-over probe's descriptors (closed if they will not do)."""
        try:
            maps = {name: CounterMap(attached.maps[name]) for name in spec.maps}
        except (KeyError, OSError, ValueError) as error:  # OSError: BpfError, sysfs
            attached.close()
            raise ProbeError(f"{spec.resource} probe handed over unreadable: {error!r}") from error
        for name in maps:
            del attached.maps[name]
        links, attached.links = attached.links, {}
        attached.close()  # any map we did not ask for
        reasons = drop_reason_names() if spec.resource == "network" else {}
        return cls(spec=spec, maps=maps, links=links, reasons=reasons)

    def _sums(self) -> list[int]:
        totals = {_key(key): total for key, total in self.maps[self.spec.table].totals().items()}
        return [totals.get(index, 0) for index in range(self.spec.counters)]

    def read(self) -> dict[str, float]:
        """Counters in the model's names (see agent/model.py), summed over CPUs."""
        try:
            sums = self._sums()
        except (BpfError, KeyError) as error:
            raise ProbeError(f"{self.spec.resource} probe read failed: {error}") from error
        if self.spec.resource == "cpu":
            return _cpu_counters(sums)
        if self.spec.resource == "memory":
            return _memory_counters(sums)
        return _network_counters(sums)

    def drops_by_reason(self) -> dict[str, float]:
        """Cumulative drops per reason name (network probe only)."""
        if "drop_counts" not in self.maps:
            return {}
        out: dict[str, float] = {}
        for key, total in self.maps["drop_counts"].totals().items():
            name = self.reasons.get(_key(key), str(_key(key)))
            out[name] = out.get(name, 0.0) + float(total)
        return out

    def close(self) -> None:
        """Detach (close the attachments) and free the maps; safe to call twice."""
        for fd in self.links.values():
            os.close(fd)
        self.links.clear()
        for counter_map in self.maps.values():
            counter_map.close()


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


def adopt_all(specs: Sequence[ProbeSpec], handoff: Handoff
              ) -> tuple[dict[str, Probe], dict[str, str]]:
    """The probes of a loader run, and why each of the others is not running."""
    probes: dict[str, Probe] = {}
    refused = dict(handoff.refused)
    for spec in specs:
        attached = handoff.attached.pop(spec.resource, None)
        if attached is None:
            refused.setdefault(spec.resource, "the probe loader did not hand it over")
            continue
        try:
            probes[spec.resource] = Probe.adopt(spec, attached)
        except ProbeError as error:
            refused[spec.resource] = str(error)
    for stray in handoff.attached.values():
        stray.close()
    return probes, refused


def load_probes(specs: Sequence[ProbeSpec], *, timeout_s: float = LOAD_TIMEOUT_S
                ) -> tuple[dict[str, Probe], dict[str, str]]:
    """Compile and attach ``specs`` in a loader process; the probes that run, and why
    the others do not. Never raises for a refused probe."""
    if not specs:
        return {}, {}
    handoff = run_loader(specs, timeout_s=timeout_s, verbose=log.isEnabledFor(logging.DEBUG))
    log.info("probe loader %d exited with status %s; its peak RSS %.0f MiB stays out of the "
             "agent", handoff.loader_pid, handoff.loader_status, handoff.children_peak_rss_mib)
    return adopt_all(specs, handoff)


def load(spec: ProbeSpec, *, timeout_s: float = LOAD_TIMEOUT_S) -> Probe:
    """Compile and attach one probe, or raise :class:`ProbeError` saying why not."""
    probes, refused = load_probes([spec], timeout_s=timeout_s)
    if spec.resource not in probes:
        raise ProbeError(refused.get(spec.resource, "not loaded"))
    return probes[spec.resource]
