"""The typed shape of the configuration document, with defaults and their reasons.

Field names are camelCase in YAML (Kubernetes convention) and snake_case in Python.
Units after parsing: cpu in cores, memory in bytes, network in bits per second,
gpu in devices, durations in seconds, power in watts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from controller.config.units import parse_duration, parse_quantity

RESOURCES: tuple[str, ...] = ("cpu", "memory", "network", "gpu")
"""Resource dimensions, in the column order used by every array in the project."""

ResourceName = Literal["cpu", "memory", "network", "gpu"]
Quantity = Annotated[float, BeforeValidator(parse_quantity), Field(ge=0)]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=63)]
ExtendedName = Annotated[str, Field(
    pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    max_length=253)]
"""An extended resource's name: a domain prefix, a slash, a name."""
Mac = Annotated[str, Field(pattern=r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")]


class Spec(BaseModel):
    """Every section rejects unknown keys: a typo must fail, not silently default."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Taint(Spec):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class PoolLimits(Spec):
    """Bounds on a pool; 0 means unbounded for the maxima and ceilings."""

    min_nodes: int = Field(0, ge=0)
    max_nodes: int = Field(0, ge=0)
    cpu: Quantity = 0.0
    memory: Quantity = 0.0
    gpu: Quantity = 0.0


class ScaleUpSpec(Spec):
    stabilization_window: Duration = 30.0
    """Pressure must stay above threshold this long: one spike must not wake a server."""
    max_per_minute: int = Field(4, ge=1)
    """Power-on rate limit (like Slurm's ResumeRate): protects PDUs from inrush."""
    batch: int = Field(1, ge=1)
    """Machines powered on in one decision at most."""
    cooldown: Duration = 600.0
    """No scale-down in the pool for this long after a scale-up, so new nodes get used."""


class ScaleDownSpec(Spec):
    unneeded_time: Duration = 600.0
    """Pressure must stay low this long before a machine is offered for power-off:
    the scale-down stabilization window."""
    max_concurrent: int = Field(1, ge=1)
    """Drains in flight at once in the pool."""
    max_per_minute: int = Field(2, ge=1)
    """Power-off rate limit (like Slurm's SuspendRate)."""
    drain_timeout: Duration = 300.0
    min_uptime: Duration = 900.0
    """A machine stays on at least this long after joining: power cycles wear hardware."""
    allow_empty_dir: bool = False
    """emptyDir data dies with its pod: a node whose pods keep any is not drained,
    unless the pool declares its emptyDirs scratch space."""
    max_uptime: Duration = 0.0
    """A machine up longer is rotated out when one that has been off longer can take
    its place (the replacement first): wear and updates spread over the fleet. 0: never."""
    skip_nodes_with_system_pods: bool = True
    """A kube-system pod without a PodDisruptionBudget keeps its node on, as in the
    Cluster Autoscaler: cluster add-ons often run a single replica, and nobody said
    the cluster can spare it for a while."""


class SystemReserved(Spec):
    """What a node's kubelet keeps from the pods: capacity less this is the
    allocatable of a machine whose Node has not been seen yet."""

    cpu: Quantity = 0.0
    """The kubelet reserves no cpu unless told to (``--system-reserved``,
    ``--kube-reserved``); set what your kubelets use."""
    memory: Quantity = 2.0**30
    """1Gi: the kubelet's hard eviction threshold (100Mi) comes off allocatable, and the
    kernel keeps 1-2 % of the installed memory out of the capacity a Node reports.
    Reserving too little would power on a machine for a pod that then does not fit."""


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Day names in ``datetime.weekday()`` order."""


def _clock_time(value: object) -> str:
    """``HH:MM`` on a 24-hour clock, ``24:00`` for the end of a day, normalised."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value} is not HH:MM: quote times (\"18:00\"), or YAML may "
                         f"read them as numbers")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not HH:MM")
    match = re.fullmatch(r"([01]?[0-9]|2[0-4]):([0-5][0-9])", value.strip())
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"{value!r} is not HH:MM (00:00 to 24:00)")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _time_zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Berlin)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Berlin)") from None
    return value


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
TimeZone = Annotated[str, BeforeValidator(_time_zone)]


class ScheduleSpec(Spec):
    """A weekly window in a time zone, during which the pool keeps more machines on or
    may (or may not) power machines off: office hours, batch nights, maintenance."""

    name: Name
    time_zone: TimeZone = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    """The days a window starts on; one that ends at or before its start ends the next
    day."""
    start: ClockTime
    end: ClockTime
    """``24:00`` ends the window at midnight."""
    min_nodes: int | None = Field(None, ge=0)
    """Inside the window the pool keeps at least this many machines on (the larger of
    this and ``limits.minNodes``)."""
    power_off: Literal["any", "never", "only"] = "any"
    """``never``: no power-off inside the window (a batch night, a demo); ``only``:
    power-off only inside this or another ``only`` window of the pool (maintenance)."""


class SpareSpec(Spec):
    """Free allocatable the pool keeps on Ready nodes, so the next pods start without
    a boot: requests (cpu, memory) or whole idle nodes, not both."""

    cpu: Quantity = 0.0
    memory: Quantity = 0.0
    nodes: int = Field(0, ge=0)

    @property
    def wanted(self) -> bool:
        return bool(self.nodes or self.cpu or self.memory)


class TriggerSpec(Spec):
    """A PromQL query whose value past its threshold for its duration asks the pool for
    one more machine (``up``) or allows one fewer (``down``): a signal agents do not
    measure, such as a job queue's length or a service's latency."""

    name: Name
    metric_query: str = Field(min_length=1)
    """An instant PromQL query that answers one number (one series, or a scalar)."""
    threshold: float = Field(allow_inf_nan=False)
    duration: Duration = 60.0
    """The value must stay past the threshold this long, through every evaluation in
    between: one spike must not wake a server. A minute spans several evaluations at
    the default interval."""
    scale_direction: Literal["up", "down"]
    comparison: Literal["above", "below"] | None = None
    """Which side of the threshold is past it; default ``above`` for ``up`` and
    ``below`` for ``down``."""

    @property
    def past(self) -> Literal["above", "below"]:
        """The effective comparison."""
        if self.comparison is not None:
            return self.comparison
        return "above" if self.scale_direction == "up" else "below"


ImageRef = Annotated[str, Field(pattern=r"^[^\s]+$", max_length=4096)]
"""A container image as a pod names it (``registry.example.com/app:1.4``)."""


class WarmUpSpec(Spec):
    """Images pulled onto a machine right after it joins, so the pool's first pods
    there start without the pull (``controller/kube/warmup.py``)."""

    mode: Literal["off", "top", "list"] = "off"
    """``off``: nothing is pulled; ``top``: the images most of the pool's running pods
    use; ``list``: the ``images`` below. Off by default: the controller creates no pod
    nobody asked for."""
    top: int = Field(5, ge=1, le=20)
    """How many images ``mode: top`` pulls. A kubelet pulls one image at a time by
    default, so a long tail would keep the node's own pods' pulls waiting."""
    images: list[ImageRef] = Field(default_factory=list)
    """The images ``mode: list`` pulls, in order."""
    timeout: Duration = Field(600.0, gt=0)
    """Seconds the warm-up pod may run before it is deleted unfinished (a pull that
    fails keeps it Pending); ten minutes pulls a few GiB on a slow registry."""
    priority_class_name: Name | None = None
    """The warm-up pod's PriorityClass (it must exist); none: the cluster's default
    priority, usually 0. The controller creates no PriorityClass of its own."""


class PoolSpec(Spec):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    system_reserved: SystemReserved = Field(default_factory=SystemReserved)
    max_pods: int = Field(110, ge=1)
    """Pods per node: the kubelet's default ``maxPods``."""
    limits: PoolLimits = Field(default_factory=PoolLimits)
    scale_up: ScaleUpSpec = Field(default_factory=ScaleUpSpec)
    scale_down: ScaleDownSpec = Field(default_factory=ScaleDownSpec)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    spare: SpareSpec = Field(default_factory=SpareSpec)
    """Warm capacity; none by default: every idle machine may be powered off."""
    triggers: list[TriggerSpec] = Field(default_factory=list)
    """PromQL triggers (``prometheus`` says where they are evaluated); none by default."""
    warm_up: WarmUpSpec = Field(default_factory=WarmUpSpec)
    """Image pre-pull on join; off by default."""


class Capacity(Spec):
    cpu: Quantity
    memory: Quantity
    network: Quantity = 0.0
    """Link bandwidth in bits per second (``10G`` is 10 Gbit/s)."""
    gpu: Quantity = 0.0
    extended: dict[ExtendedName, Quantity] = Field(default_factory=dict)
    """Other extended resources by Kubernetes name (``example.com/fpga: 2``); a GPU is
    ``gpu`` (``nvidia.com/gpu``) and the link is ``network`` (``bamel.io/network``)."""

    @model_validator(mode="after")
    def _one_name_per_resource(self) -> Capacity:
        for name, field in (("nvidia.com/gpu", "gpu"), ("bamel.io/network", "network")):
            if name in self.extended:
                raise ValueError(f"extended[{name!r}]: write it as capacity.{field}")
        return self

    def vector(self) -> tuple[float, ...]:
        """The capacity in RESOURCES order."""
        return tuple(float(getattr(self, name)) for name in RESOURCES)


class CredentialsRef(Spec):
    """Where a machine's BMC or SSH credentials live: a Secret, or a file for local runs."""

    secret: str | None = None
    namespace: str = "bamel-system"
    file: str | None = None


class PowerAction(Spec):
    driver: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class PowerSpec(Spec):
    on: PowerAction
    off: PowerAction
    credentials: CredentialsRef | None = None


class MachineSpec(Spec):
    name: Name
    pool: str
    capacity: Capacity
    power: PowerSpec
    mac: Mac | None = None
    boot_time: Duration = 240.0
    """Expected power-on to Ready; a machine not Ready by max(2 x bootTime,
    bootTime + 2m) is powered off, marked in error and backed off."""
    idle_watts: float = Field(100.0, ge=0)
    busy_watts: float = Field(300.0, ge=0)
    off_watts: float = Field(5.0, ge=0)
    """What the BMC and standby draw while the machine is off."""
    power_state: Literal["on", "off", "auto"] = "auto"
    """A person's override (Metal3's ``online``): ``auto`` lets the autoscaler decide;
    ``on`` or ``off`` hold the machine as it is (maintenance), and the planner neither
    powers it on nor off."""

    @property
    def held(self) -> str | None:
        """``on`` or ``off`` when a person holds the machine, else None."""
        return None if self.power_state == "auto" else self.power_state


class ResourceWeights(Spec):
    useful: float | None = Field(None, ge=0)
    other: float | None = Field(None, ge=0)


class WeightsSpec(Spec):
    useful: float = Field(1.0, ge=0)
    """Weight of a resource whose pressure the machine would relieve."""
    other: float = Field(0.25, ge=0)
    """Weight of the other resources: they matter, but less."""
    resources: dict[ResourceName, ResourceWeights] = Field(default_factory=dict)

    def for_resource(self, resource: str) -> tuple[float, float]:
        """(useful, other) weights of one resource, with per-resource overrides applied."""
        override = self.resources.get(resource)  # type: ignore[call-overload]
        useful = override.useful if override and override.useful is not None else self.useful
        other = override.other if override and override.other is not None else self.other
        return useful, other


class ResourceThresholds(Spec):
    level_high: Fraction | None = None
    level_low: Fraction | None = None
    target_level: Fraction | None = None
    rate: float | None = Field(None, ge=0)
    exponent: float | None = Field(None, ge=1, le=16)


class ThresholdsSpec(Spec):
    level_high: Fraction = 0.6
    """Above this pressure level a resource is under pressure (scale-up side)."""
    level_low: Fraction = 0.2
    """Below this level a resource has surplus (scale-down side)."""
    target_level: Fraction = 0.4
    """The level capacity is sized for: headroom kept both ways."""
    rate: float = Field(0.005, ge=0)
    """Level change per second that counts as rising or falling."""
    exponent: float = Field(1.0, ge=1, le=16)
    """How pressure grows with utilisation, level ≈ utilisation ** exponent, for sizing.

    1 sizes capacity in proportion to the level: safe, and generous at high levels.
    Queueing pressure (run-queue wait, reclaim stalls) is convex: near saturation a
    little capacity lowers it a lot, and a larger exponent asks for only that.
    """
    resources: dict[ResourceName, ResourceThresholds] = Field(default_factory=dict)

    def for_resource(self, resource: str) -> ResourceThresholds:
        """Effective thresholds of one resource, overrides applied."""
        override = self.resources.get(resource)  # type: ignore[call-overload]
        values = {
            name: getattr(override, name) if override and getattr(override, name) is not None
            else getattr(self, name)
            for name in ("level_high", "level_low", "target_level", "rate", "exponent")
        }
        return ResourceThresholds(**values)


class SizingSpec(Spec):
    """How much capacity a pool keeps ready: the demand expected over the next boot
    plus a margin learned from how wrong that expectation has been
    (``controller/planning/forecast.py``, docs/scoring.md)."""

    enabled: bool = False
    """Size pools to demand. Off, pressure bands decide: power on above ``levelHigh``
    to ``targetLevel``, power off below ``levelLow``. Demand is read back from the
    level through ``exponent``, so turn this on with an exponent that says how the
    pool's pressure grows with utilisation."""
    quantile: float = Field(0.99, gt=0, lt=1)
    """The share of past forecasts the margin would have covered. 0.99 leaves the
    worst percent of the boot-time windows short, so a fleet that missed its forecast
    by a burst a few times a day keeps that burst ready; lower saves energy and
    leaves more demand unmet."""
    error_window: Duration = Field(86400.0, ge=3600.0, le=604800.0)
    """How far back forecast errors count. A day holds every hour of a daily rhythm
    once, and forgets a changed load by the next day."""


class ScoringSpec(Spec):
    weights: WeightsSpec = Field(default_factory=WeightsSpec)
    thresholds: ThresholdsSpec = Field(default_factory=ThresholdsSpec)
    sizing: SizingSpec = Field(default_factory=SizingSpec)
    slack: Fraction = 0.25
    """Weight of the gentler side of a mismatch (oversizing on power-on, leftover on off)."""
    failure_penalty: float = Field(0.1, ge=0)
    """Score added per recent failed power-on, so a flaky machine is tried last."""
    efficiency: float = Field(0.5, ge=0)
    """Weight of idle watts per unit of capacity: power on cheap capacity first, power
    off costly capacity first (docs/scoring.md). 0 leaves watts to break ties only."""


class PowerSyncSpec(Spec):
    """The periodic read of every machine's power state (like Ironic's power sync)."""

    interval: Duration = 60.0
    """Seconds between two reads of one machine; 0 turns the sync off. A minute
    notices a person's switch before the planner's next minute-scale decision, and a
    BMC answers a status read in well under a second, so a fleet of hundreds costs a
    few reads a second."""
    policy: Literal["adopt", "restore"] = "adopt"
    """What a change made outside the controller becomes: ``adopt`` records it (the
    machine stays as the person left it), ``restore`` powers it back to the recorded
    state. The default never fights a person at the console."""
    max_concurrent: int = Field(4, ge=1)
    """Status reads in flight at once: a shared BMC network and IPMI worker processes
    must not be flooded by a large fleet."""
    reads_per_second: float = Field(10.0, gt=0)
    """Status reads started per second at most, spread over the interval."""


class QuarantineSpec(Spec):
    """When a machine whose BMC keeps failing is set aside (Ironic's power failure
    recovery): the planner stops choosing it and only a slow status read probes it."""

    after_failures: int = Field(5, ge=1)
    """Consecutive failed BMC calls (power calls and status reads) before quarantine.
    With the doubling backoff five failed power-ons span about half an hour: long
    enough for a BMC reboot or a switch flap to pass, short enough to stop a storm."""
    probe_interval: Duration = Field(300.0, gt=0)
    """Seconds between the status reads that probe a quarantined machine; the first
    one that answers releases it (Ironic's recovery interval is the same 300 s)."""


class PrometheusSpec(Spec):
    """Where the pools' triggers are evaluated, and how often."""

    url: str | None = Field(None, pattern=r"^https?://[^\s/]+")
    """The Prometheus server's base URL (``http://prometheus.monitoring:9090``);
    required once a pool has a trigger."""
    interval: Duration = Field(30.0, gt=0)
    """Seconds between two evaluations of every trigger: two scrapes at Prometheus's
    common 15 s interval, so each evaluation can see a new sample."""
    timeout: Duration = Field(10.0, gt=0)
    """Seconds one query may take (Prometheus is asked to stop then too); below the
    interval, so a slow server cannot pile evaluations up."""


class EnergySpec(Spec):
    """The energy meter: how often each machine's draw is integrated into joules, and
    whether the BMC's own power reading is used where it gives one
    (``controller.energy``)."""

    interval: Duration = Field(15.0, ge=1)
    """Seconds between two integration steps. Draw is taken as constant over a step,
    so a shorter one follows a state change more closely; 15 s is Prometheus's usual
    scrape interval, so the watts gauge is never older than one scrape."""
    read_bmc: bool = True
    """Read the draw from the BMC (Redfish ``PowerConsumedWatts``, IPMI DCMI power
    reading) where it reports one; false: always the configured watts model."""
    bmc_interval: Duration = Field(60.0, ge=1)
    """Seconds between two power readings of one BMC: a reading costs a BMC session
    (a worker process for IPMI), and a server's draw moves slowly between decisions;
    between readings the last one stands."""
    bmc_timeout: Duration = Field(10.0, gt=0)
    """Seconds one reading may take; a slower BMC counts as the model for that step,
    so one silent BMC never holds up the meter."""
    persist_interval: Duration = Field(300.0, ge=1)
    """Seconds between two writes of each machine's totals to its record, so a
    restarted controller continues the NodePool totals; what a restart loses is at
    most this much metering."""


class AutoscalerConfig(Spec):
    api_version: Literal["bamel.io/v1alpha1"]
    kind: Literal["AutoscalerConfig"]
    pools: list[PoolSpec] = Field(min_length=1)
    machines: list[MachineSpec] = Field(default_factory=list)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    power_sync: PowerSyncSpec = Field(default_factory=PowerSyncSpec)
    quarantine: QuarantineSpec = Field(default_factory=QuarantineSpec)
    prometheus: PrometheusSpec = Field(default_factory=PrometheusSpec)
    energy: EnergySpec = Field(default_factory=EnergySpec)

    def pool(self, name: str) -> PoolSpec:
        """The pool called name; KeyError if there is none."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise KeyError(name)
