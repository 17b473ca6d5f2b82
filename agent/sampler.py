"""Per-resource choice of source (eBPF probe or PSI/proc) and reading them together.

A resource uses its probe when it loads and reads; otherwise, or as soon as a read
fails, it falls back to the /proc reader and says so once in the log. The choice is
per resource, so one refused probe does not cost the others.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from agent.model import Reading
from agent.probes import ProbeError, ProbeSpec, load, specs
from agent.procfs import ProcError, ProcReader
from wire import PRESSURE_RESOURCES

log = logging.getLogger(__name__)


class ProbeLike(Protocol):
    """What the sampler needs of a loaded probe (tests pass fakes)."""

    def read(self) -> dict[str, float]: ...
    def drops_by_reason(self) -> dict[str, float]: ...
    def close(self) -> None: ...


class Sampler:
    """Reads every resource's counters from its current source."""

    def __init__(
        self,
        *,
        resources: Iterable[str] = PRESSURE_RESOURCES,
        use_bpf: bool = True,
        proc: ProcReader | None = None,
        loader: Callable[[ProbeSpec], ProbeLike] = load,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resources = tuple(resources)
        self.use_bpf = use_bpf
        self.proc = proc or ProcReader()
        self.loader = loader
        self.clock = clock
        self.probes: dict[str, ProbeLike] = {}
        self.why_fallback: dict[str, str] = {}
        self.cpus = float(os.cpu_count() or 1)

    def start(self) -> None:
        """Load the probes that can be loaded; note why the others fall back."""
        if not self.use_bpf:
            self.why_fallback = dict.fromkeys(self.resources, "eBPF disabled by configuration")
        else:
            for resource, spec in specs().items():
                if resource not in self.resources:
                    continue
                try:
                    self.probes[resource] = self.loader(spec)
                except ProbeError as error:
                    self.why_fallback[resource] = str(error)
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

