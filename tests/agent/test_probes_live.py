"""The real probes on this kernel: they load, count, and each level rises under load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.model import ModelSettings, Reading, level_between
from agent.probes import Probe, ProbeError, load
from agent.procfs import ProcReader
from agent.programs import specs
from tests.agent.loads import (
    MEMORY_CGROUP_ROOT,
    cpu_hogs,
    free_udp_port,
    memory_cgroup,
    udp_flood,
    udp_sink,
    write_in_cgroup,
)

pytestmark = [pytest.mark.integration, pytest.mark.root]
CPUS = __import__("os").cpu_count() or 1


@pytest.fixture(scope="module")
def probes() -> Iterator[dict[str, Probe]]:
    try:
        loaded = {resource: load(spec) for resource, spec in specs().items()}
    except ProbeError as error:
        pytest.fail(f"probes must load on the test machine (see TESTBED.md): {error}")
    yield loaded
    for probe in loaded.values():
        probe.close()


def reading(probe: Probe, resource: str) -> Reading:
    parallelism = float(CPUS) if resource == "cpu" else 1.0
    return Reading("ebpf", time.monotonic(), probe.read(), parallelism=parallelism)


def test_every_probe_loads_and_counts(probes: dict[str, Probe]) -> None:
    assert set(probes) == {"cpu", "memory", "network"}
    time.sleep(0.3)
    assert probes["cpu"].read()["waits"] > 0
    assert probes["memory"].read()["faults"] > 0


def test_cpu_level_rises_with_more_hogs_than_cores(probes: dict[str, Probe]) -> None:
    proc = ProcReader()
    with cpu_hogs(CPUS * 2, seconds=6):
        time.sleep(0.3)
        before, psi_before = reading(probes["cpu"], "cpu"), proc.cpu()["stall_ns"]
        time.sleep(1.5)
        after, psi_after = reading(probes["cpu"], "cpu"), proc.cpu()["stall_ns"]
    level = level_between("cpu", before, after, ModelSettings())
    psi_some = (psi_after - psi_before) / 1e9 / (after.at - before.at)
    assert level is not None
    assert level > 0.4
    assert psi_some > 0.4  # the same load as PSI sees it
    hist = [after.counters[f"hist_{i}"] - before.counters[f"hist_{i}"] for i in range(26)]
    assert sum(hist) == pytest.approx(after.counters["waits"] - before.counters["waits"], abs=50)


@pytest.mark.skipif(not MEMORY_CGROUP_ROOT.is_dir(), reason="no v1 memory controller")
def test_memory_level_rises_for_a_writer_in_a_small_cgroup(
    probes: dict[str, Probe], tmp_path: Path
) -> None:
    before = reading(probes["memory"], "memory")
    with memory_cgroup(32 * 1024 * 1024) as cgroup:
        write_in_cgroup(cgroup, Path("/var/tmp") / f"{tmp_path.name}.fill", megabytes=400)
    after = reading(probes["memory"], "memory")
    assert after.counters["reclaims"] - before.counters["reclaims"] > 10
    assert after.counters["memcg_ns"] > before.counters["memcg_ns"]
    level = level_between("memory", before, after, ModelSettings())
    assert level is not None
    assert level > 0.0


def test_network_level_rises_with_loopback_udp(probes: dict[str, Probe]) -> None:
    settings = ModelSettings(link_bits_per_s=10e6)
    with udp_sink() as port:
        before = reading(probes["network"], "network")
        sent = udp_flood(seconds=0.5, port=port)
        after = reading(probes["network"], "network")
    assert after.counters["tx_packets"] - before.counters["tx_packets"] >= sent
    assert after.counters["rx_bytes"] - before.counters["rx_bytes"] >= sent * 1024
    level = level_between("network", before, after, settings)
    assert level == 1.0  # far beyond a 10 Mbit/s link


def test_drops_to_a_closed_port_are_counted_by_reason(probes: dict[str, Probe]) -> None:
    before = reading(probes["network"], "network")
    drops_before = probes["network"].drops_by_reason().get("NO_SOCKET", 0.0)
    sent = udp_flood(seconds=0.3, port=free_udp_port())
    after = reading(probes["network"], "network")
    assert after.counters["drops"] - before.counters["drops"] >= sent * 0.9
    assert probes["network"].drops_by_reason()["NO_SOCKET"] - drops_before >= sent * 0.9
    level = level_between("network", before, after, ModelSettings())
    assert level is not None
    assert level > 0.9  # nearly every packet lost


def test_detach_is_clean_and_idempotent() -> None:
    probe = load(specs()["network"])
    probe.read()
    probe.close()
    probe.close()
    with pytest.raises(ProbeError):
        probe.read()
