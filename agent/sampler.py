"""Per-resource choice of source (eBPF probe or PSI/proc) and reading them together.

A resource uses its probe when it loads and reads; otherwise, or as soon as a read
fails, it falls back to the /proc reader and says so once in the log. The choice is
per resource, so one refused probe does not cost the others. All probes are loaded
together, by one loader process (agent/handoff.py), at start.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from agent.model import Reading
from agent.probes import LOAD_TIMEOUT_S, ProbeError, load_probes
from agent.procfs import ProcError, ProcReader
from agent.programs import ProbeSpec, specs
from wire import PRESSURE_RESOURCES

log = logging.getLogger(__name__)


class ProbeLike(Protocol):
    """What the sampler needs of a loaded probe (tests pass fakes)."""

    def read(self) -> dict[str, float]: ...
    def drops_by_reason(self) -> dict[str, float]: ...
    def close(self) -> None: ...


Loader = Callable[[Sequence[ProbeSpec]], tuple[Mapping[str, ProbeLike], Mapping[str, str]]]
"""Loads probes: the ones running, and why each of the others is not."""


def default_loader(*, timeout_s: float = LOAD_TIMEOUT_S) -> Loader:
    """The loader process (agent/loader.py), given ``timeout_s`` to answer."""
    return lambda wanted: load_probes(wanted, timeout_s=timeout_s)


class Sampler:
    """Reads every resource's counters from its current source."""

    def __init__(
        self,
        *,
        resources: Iterable[str] = PRESSURE_RESOURCES,
        use_bpf: bool = True,
        proc: ProcReader | None = None,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resources = tuple(resources)
        self.use_bpf = use_bpf
        self.proc = proc or ProcReader()
        self.loader = loader or default_loader()
        self.clock = clock
        self.probes: dict[str, ProbeLike] = {}
        self.why_fallback: dict[str, str] = {}
        self.cpus = float(os.cpu_count() or 1)

    def start(self) -> None:
        """Load the probes that can be loaded; note why the others fall back."""
        if not self.use_bpf:
            self.why_fallback = dict.fromkeys(self.resources, "eBPF disabled by configuration")
        else:
            wanted = [spec for resource, spec in specs().items() if resource in self.resources]
            probes, refused = self.loader(wanted)
            self.probes.update(probes)
            self.why_fallback.update(refused)
        for resource in self.resources:
            log.info("pressure source for %s: %s%s", resource, self.source(resource),
                     f" ({self.why_fallback[resource]})" if resource in self.why_fallback else "")

    def source(self, resource: str) -> str:
        """Where the resource's figures come from: "ebpf", "psi" or "proc"."""
        return "ebpf" if resource in self.probes else ProcReader.SOURCES[resource]

    def sources(self) -> dict[str, str]:
        """The source of every resource."""
        return {resource: self.source(resource) for resource in self.resources}

    def _fall_back(self, resource: str, error: Exception) -> None:
        probe = self.probes.pop(resource)
        self.why_fallback[resource] = str(error)
        log.warning("%s probe failed (%s); %s now from %s", resource, error, resource,
                    self.source(resource))
        probe.close()

    def read_one(self, resource: str) -> Reading | None:
        """One resource's reading, or None when even the fallback cannot be read."""
        probe = self.probes.get(resource)
        if probe is not None:
            try:
                counters = probe.read()
            except ProbeError as error:
                self._fall_back(resource, error)
            else:
                return Reading("ebpf", self.clock(), counters,
                               parallelism=self.cpus if resource == "cpu" else 1.0)
        try:
            return Reading(self.source(resource), self.clock(), self.proc.read(resource))
        except ProcError as error:
            log.warning("cannot read %s pressure: %s", resource, error)
            return None

    def read(self) -> dict[str, Reading]:
        """Every resource that could be read."""
        readings = {r: self.read_one(r) for r in self.resources}
        return {r: reading for r, reading in readings.items() if reading is not None}

    def drops_by_reason(self) -> dict[str, float]:
        """Cumulative network drops per reason, when the network probe runs."""
        probe = self.probes.get("network")
        return probe.drops_by_reason() if probe is not None else {}

    def close(self) -> None:
        """Detach every probe; safe to call twice."""
        for probe in self.probes.values():
            probe.close()
        self.probes.clear()

