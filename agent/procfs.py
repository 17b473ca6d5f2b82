"""Fallback readers: PSI (``/proc/pressure/*``) and ``/proc`` counters.

Used per resource when its eBPF probe cannot load. They produce the same counter
names as the probes (see agent/model.py), so the model treats them alike. The root
directory is a parameter so tests can point the readers at recorded files.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

PROC = Path("/proc")


class ProcError(OSError):
    """A /proc file is missing or not in the expected format."""


def psi_some_total_us(text: str) -> int:
    """The ``some ... total=`` figure (µs of wall time with some task stalled)."""
    for line in text.splitlines():
        if line.startswith("some "):
            for part in line.split():
                if part.startswith("total="):
                    return int(part[6:])
    raise ProcError(f"no 'some total=' in PSI text {text[:80]!r}")


def vmstat_value(text: str, name: str) -> int:
    """One named counter from /proc/vmstat."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    raise ProcError(f"{name} not in vmstat")


def net_dev_totals(text: str) -> dict[str, float]:
    """Bytes, packets and drops summed over every device in /proc/net/dev."""
    totals = dict.fromkeys(("rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "drops"), 0.0)
    for line in text.splitlines()[2:]:
        _, _, data = line.partition(":")
        fields = data.split()
        if len(fields) < 16:
            continue
        totals["rx_bytes"] += int(fields[0])
        totals["rx_packets"] += int(fields[1])
        totals["drops"] += int(fields[3]) + int(fields[11])
        totals["tx_bytes"] += int(fields[8])
        totals["tx_packets"] += int(fields[9])
    return totals


def snmp_table(text: str, protocol: str) -> dict[str, int]:
    """One protocol's header/value line pair from /proc/net/snmp, as a dict."""
    rows = [line.split()[1:] for line in text.splitlines() if line.startswith(protocol + ":")]
    if len(rows) < 2:
        raise ProcError(f"{protocol} not in /proc/net/snmp")
    return {key: int(value) for key, value in zip(rows[0], rows[1], strict=False)}


class ProcReader:
    """Reads the fallback counters for each resource from a /proc tree."""

    SOURCES: ClassVar[dict[str, str]] = {"cpu": "psi", "memory": "psi", "network": "proc"}

    def __init__(self, *, root: Path = PROC) -> None:
        self.root = root

    def _text(self, relative: str) -> str:
        try:
            return (self.root / relative).read_text()
        except OSError as error:
            raise ProcError(f"cannot read {self.root / relative}: {error}") from error

    def cpu(self) -> dict[str, float]:
        """PSI cpu "some" stall time, ns."""
        return {"stall_ns": psi_some_total_us(self._text("pressure/cpu")) * 1000.0}

    def memory(self) -> dict[str, float]:
        """PSI memory "some" stall time, ns, and page faults from vmstat."""
        return {
            "stall_ns": psi_some_total_us(self._text("pressure/memory")) * 1000.0,
            "faults": float(vmstat_value(self._text("vmstat"), "pgfault")),
        }

    def network(self) -> dict[str, float]:
        """Device totals, plus UDP datagrams nobody received and TCP retransmits."""
        totals = net_dev_totals(self._text("net/dev"))
        snmp = self._text("net/snmp")
        udp = snmp_table(snmp, "Udp")
        totals["drops"] += udp.get("NoPorts", 0) + udp.get("InErrors", 0)
        totals["retransmits"] = float(snmp_table(snmp, "Tcp").get("RetransSegs", 0))
        return totals

    def read(self, resource: str) -> dict[str, float]:
        """The counters of one resource."""
        reader = {"cpu": self.cpu, "memory": self.memory, "network": self.network}[resource]
        return reader()
