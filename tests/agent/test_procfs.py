"""Fallback parsers on recorded /proc text, and the header the probes share."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import probes, programs
from agent.procfs import ProcError, ProcReader, net_dev_totals, psi_some_total_us

PSI = "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.00 total=99\n"
NET_DEV = (
    "Inter-| Receive | Transmit\n"
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop"
    " fifo colls carrier compressed\n"
    "    lo: 1000 10 0 1 0 0 0 0 1000 10 0 0 0 0 0 0\n"
    "  eth0: 5000 20 0 2 0 0 0 0 7000 30 0 3 0 0 0 0\n"
)
SNMP = """Tcp: RtoAlgorithm RetransSegs InErrs
Tcp: 1 42 0
Udp: InDatagrams NoPorts InErrors OutDatagrams
Udp: 10 5 1 9
"""


def test_psi_total() -> None:
    assert psi_some_total_us(PSI) == 123456
    with pytest.raises(ProcError):
        psi_some_total_us("full total=1\n")


def test_net_dev_totals() -> None:
    assert net_dev_totals(NET_DEV) == {
        "rx_bytes": 6000, "rx_packets": 30, "tx_bytes": 8000, "tx_packets": 40, "drops": 6,
    }


def test_reader_on_a_recorded_tree(tmp_path: Path) -> None:
    (tmp_path / "pressure").mkdir()
    (tmp_path / "net").mkdir()
    (tmp_path / "pressure/cpu").write_text(PSI)
    (tmp_path / "pressure/memory").write_text(PSI)
    (tmp_path / "vmstat").write_text("pgalloc 5\npgfault 777\n")
    (tmp_path / "net/dev").write_text(NET_DEV)
    (tmp_path / "net/snmp").write_text(SNMP)
    reader = ProcReader(root=tmp_path)
    assert reader.read("cpu") == {"stall_ns": 123456000.0}
    assert reader.read("memory") == {"stall_ns": 123456000.0, "faults": 777.0}
    network = reader.read("network")
    assert network["drops"] == 6 + 5 + 1
    assert network["retransmits"] == 42


def test_missing_file_is_a_proc_error(tmp_path: Path) -> None:
    with pytest.raises(ProcError):
        ProcReader(root=tmp_path).read("cpu")


def enum_values(header: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"(\w+) = (\d+),", header)}


def test_python_mirror_of_the_header_is_in_step() -> None:
    header = (programs.bpf_dir() / "pressure.h").read_text()
    values = enum_values(header)
    for table in programs.COUNTER_INDEX.values():
        for name, index in table.items():
            assert values[name] == index, name
    slots = re.search(r"#define RUNQ_HIST_SLOTS (\d+)", header)
    assert slots is not None
    assert int(slots.group(1)) == programs.RUNQ_HIST_SLOTS
    assert values["MEM_COUNTERS"] == len(programs.COUNTER_INDEX["memory"])
    assert values["NET_COUNTERS"] == len(programs.COUNTER_INDEX["network"])


def test_drop_reasons_are_read_from_a_format_file(tmp_path: Path) -> None:
    fmt = tmp_path / "events/skb/kfree_skb/format"
    fmt.parent.mkdir(parents=True)
    fmt.write_text('print fmt: "%s", __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, '
                   '{ 3, "NO_SOCKET" })\n')
    assert probes.drop_reason_names(tracefs=tmp_path) == {2: "NOT_SPECIFIED", 3: "NO_SOCKET"}


def test_every_probe_source_exists_and_declares_the_maps_read_back() -> None:
    for spec in programs.specs().values():
        source = (programs.bpf_dir() / spec.source).read_text()
        for name in spec.maps:
            assert re.search(rf"BPF_PERCPU_\w+\({name},", source), (spec.source, name)
        assert "pressure.h" in programs.describe(spec)
