"""Per-resource fallback when a probe is refused or fails while running."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from agent.probes import ProbeError
from agent.procfs import ProcReader
from agent.programs import ProbeSpec
from agent.sampler import ProbeLike, Sampler

Loaded = tuple[Mapping[str, ProbeLike], Mapping[str, str]]


class FakeProbe:
    def __init__(self, *, fail_reads: bool = False) -> None:
        self.fail_reads = fail_reads
        self.closed = 0

    def read(self) -> dict[str, float]:
        if self.fail_reads:
            raise ProbeError("map vanished")
        return {"stall_ns": 1.0}

    def drops_by_reason(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        self.closed += 1


class FakeProc(ProcReader):
    def read(self, resource: str) -> dict[str, float]:
        return {"stall_ns": 2.0}


def test_refused_probe_falls_back_for_that_resource_only() -> None:
    def loader(specs: Sequence[ProbeSpec]) -> Loaded:
        probes = {s.resource: FakeProbe() for s in specs if s.resource != "memory"}
        return probes, {"memory": "kernel said no"}

    sampler = Sampler(loader=loader, proc=FakeProc(), clock=lambda: 1.0)
    sampler.start()
    assert sampler.sources() == {"cpu": "ebpf", "memory": "psi", "network": "ebpf"}
    assert "kernel said no" in sampler.why_fallback["memory"]
    readings = sampler.read()
    assert readings["memory"].source == "psi"
    assert readings["cpu"].parallelism >= 1


def test_failing_read_switches_to_fallback_and_detaches(caplog: pytest.LogCaptureFixture) -> None:
    probe = FakeProbe(fail_reads=True)
    sampler = Sampler(resources=("cpu",), loader=lambda specs: ({"cpu": probe}, {}),
                      proc=FakeProc())
    sampler.start()
    reading = sampler.read()["cpu"]
    assert reading.source == "psi"
    assert probe.closed == 1
    assert sampler.sources() == {"cpu": "psi"}
    assert "now from psi" in caplog.text


def test_only_the_wanted_resources_are_loaded() -> None:
    asked: list[str] = []

    def loader(specs: Sequence[ProbeSpec]) -> Loaded:
        asked.extend(s.resource for s in specs)
        return {s.resource: FakeProbe() for s in specs}, {}

    sampler = Sampler(resources=("network",), loader=loader, proc=FakeProc())
    sampler.start()
    assert asked == ["network"]
    assert sampler.sources() == {"network": "ebpf"}


def test_disabled_bpf_never_loads() -> None:
    def loader(specs: Sequence[ProbeSpec]) -> Loaded:
        raise AssertionError("must not load")

    sampler = Sampler(use_bpf=False, loader=loader, proc=FakeProc())
    sampler.start()
    assert sampler.sources() == {"cpu": "psi", "memory": "psi", "network": "proc"}
    sampler.close()
    sampler.close()
