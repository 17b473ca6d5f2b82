"""The fleet file: machine shapes and counts, boot times, failures, watts.

A simulated fleet is described by shapes (``count`` machines alike) rather than one
entry per machine, plus the pools and scoring settings of the AutoscalerConfig the
planner runs under. It is validated like the configuration: every error names its
field path and value. ``Fleet`` then holds per-machine arrays for the world and the
AutoscalerConfig for the planner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError

from controller.config import (
    RESOURCES,
    AutoscalerConfig,
    Capacity,
    Duration,
    Fraction,
    MachineSpec,
    Name,
    PoolSpec,
    PowerSpec,
    ScoringSpec,
    Spec,
    describe_error,
    parse_yaml,
)
from scoring.model import FloatArray

SIMULATED_POWER = PowerSpec.model_validate({"on": {"driver": "simulated"},
                                            "off": {"driver": "simulated"}})


class FleetError(ValueError):
    """The fleet file is invalid; ``problems`` holds one ``path: reason`` line each."""

    retriable = False

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid fleet:\n  " + "\n  ".join(problems))
        self.problems = problems


class BootTime(Spec):
    """Power-on to Ready, drawn uniformly in [min, max] for every boot."""

    min: Duration = 180.0
    max: Duration = 300.0


class ShapeSpec(Spec):
    name: Name
    pool: str
    count: int = Field(ge=1)
    capacity: Capacity
    boot_time: BootTime = Field(default_factory=BootTime)
    failure_rate: Fraction = 0.0
    """Share of power-ons that never reach Ready (BMC hiccup, PXE timeout, bad disk)."""
    idle_watts: float = Field(ge=0)
    busy_watts: float = Field(ge=0)
    off_watts: float = Field(5.0, ge=0)


class WorldSpec(Spec):
    """How the simulated machines respond; see docs/simulation.md for the model."""

    pressure_exponent: float = Field(6.0, gt=0)
    """Level = utilisation ** exponent: 6 follows the Erlang-C share of waiting work
    on a 16–32-core machine between 70 and 95 % busy."""
    rate_window: Duration = 120.0
    """Time constant of the smoothed level rate, like a PSI avg over minutes."""
    shutdown_time: Duration = 60.0
    """Drain plus OS shutdown, at idle watts, before a machine is off."""


class FleetSpec(Spec):
    api_version: Literal["bamel.io/v1alpha1"]
    kind: Literal["SimulationFleet"]
    pools: list[PoolSpec] = Field(min_length=1)
    shapes: list[ShapeSpec] = Field(min_length=1)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    world: WorldSpec = Field(default_factory=WorldSpec)


@dataclass(frozen=True)
class Fleet:
    """Per-machine arrays (index = machine) and the config the planner runs under."""

    world: WorldSpec
    config: AutoscalerConfig
    names: tuple[str, ...]
    pool_of: np.ndarray
    """(machines,) index into ``pools``."""
    pools: tuple[str, ...]
    capacity: FloatArray
    boot_min: FloatArray
    boot_max: FloatArray
    failure_rate: FloatArray
    idle_watts: FloatArray
    busy_watts: FloatArray
    off_watts: FloatArray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def total_capacity(self) -> FloatArray:
        total: FloatArray = self.capacity.sum(axis=0)
        return total


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate the fleet file at path."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise FleetError([f"{path}: cannot read ({error.strerror})"]) from error
    return load_fleet_text(text)


def load_fleet_text(text: str) -> Fleet:
    """Validate a fleet YAML document; raise FleetError naming every bad field."""
    try:
        document = parse_yaml(text)
    except yaml.YAMLError as error:
        raise FleetError([f"not valid YAML: {error}"]) from error
    if not isinstance(document, dict):
        raise FleetError([f"the document must be a mapping, not {type(document).__name__}"])
    try:
        spec = FleetSpec.model_validate(document)
    except ValidationError as error:
        raise FleetError([describe_error(detail) for detail in error.errors()]) from None
    problems = list(_cross_checks(spec))
    if problems:
        raise FleetError(problems)
    return build_fleet(spec)


def _cross_checks(spec: FleetSpec) -> Iterator[str]:
    pools = [pool.name for pool in spec.pools]
    seen: set[str] = set()
    for index, shape in enumerate(spec.shapes):
        where = f"shapes[{index}]"
        if shape.name in seen:
            yield f"{where}.name: {shape.name!r} repeats an earlier shape"
        seen.add(shape.name)
        if shape.pool not in pools:
            yield f"{where}.pool: {shape.pool!r} is not a pool ({', '.join(pools)})"
        if shape.busy_watts < shape.idle_watts:
            yield (f"{where}.busyWatts: {shape.busy_watts:g} is below idleWatts "
                   f"{shape.idle_watts:g}")
        if shape.boot_time.min > shape.boot_time.max:
            yield (f"{where}.bootTime.min: {shape.boot_time.min:g}s is above max "
                   f"{shape.boot_time.max:g}s")


def build_fleet(spec: FleetSpec) -> Fleet:
    """Expand shapes into machines named ``<shape>-<n>``."""
    machines: list[MachineSpec] = []
    boot_min: list[float] = []
    boot_max: list[float] = []
    failure_rate: list[float] = []
    for shape in spec.shapes:
        width = len(str(shape.count - 1))
        boot = (shape.boot_time.min + shape.boot_time.max) / 2.0
        for number in range(shape.count):
            machines.append(MachineSpec(
                name=f"{shape.name}-{number:0{width}d}", pool=shape.pool,
                capacity=shape.capacity, power=SIMULATED_POWER, boot_time=boot,
                idle_watts=shape.idle_watts, busy_watts=shape.busy_watts,
                off_watts=shape.off_watts))
            boot_min.append(shape.boot_time.min)
            boot_max.append(shape.boot_time.max)
            failure_rate.append(shape.failure_rate)
    config = AutoscalerConfig(api_version="bamel.io/v1alpha1", kind="AutoscalerConfig",
                              pools=spec.pools, machines=machines, scoring=spec.scoring)
    return _arrays(config, spec.world, boot_min=boot_min, boot_max=boot_max,
                   failure_rate=failure_rate)


def fleet_from_config(config: AutoscalerConfig, *, world: WorldSpec | None = None) -> Fleet:
    """The machines of the autoscaler's own configuration as a fleet: each boots in its
    ``bootTime`` every time and never fails to join, and draws the watts it declares.

    This is the fleet an operator already described; the planner runs under the very
    configuration it came from.
    """
    boots = [machine.boot_time for machine in config.machines]
    return _arrays(config, world or WorldSpec(), boot_min=boots, boot_max=boots,
                   failure_rate=[0.0] * len(boots))


def _arrays(config: AutoscalerConfig, world: WorldSpec, *, boot_min: list[float],
            boot_max: list[float], failure_rate: list[float]) -> Fleet:
    """Per-machine arrays, in the order of ``config.machines``."""
    pools = tuple(pool.name for pool in config.pools)
    machines = config.machines
    capacity = np.array([m.capacity.vector() for m in machines], dtype=np.float64)
    assert capacity.shape[1] == len(RESOURCES)
    return Fleet(world=world, config=config, names=tuple(m.name for m in machines),
                 pool_of=np.array([pools.index(m.pool) for m in machines], dtype=np.intp),
                 pools=pools, capacity=capacity, boot_min=np.array(boot_min, dtype=np.float64),
                 boot_max=np.array(boot_max, dtype=np.float64),
                 failure_rate=np.array(failure_rate, dtype=np.float64),
                 idle_watts=np.array([m.idle_watts for m in machines], dtype=np.float64),
                 busy_watts=np.array([m.busy_watts for m in machines], dtype=np.float64),
                 off_watts=np.array([m.off_watts for m in machines], dtype=np.float64))
