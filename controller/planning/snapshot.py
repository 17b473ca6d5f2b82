"""What the planner sees at one instant, and what it answers.

The controller (or the simulator) builds a Snapshot from its live state; the
planner never reads a clock or a socket, only this.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from controller.config import AutoscalerConfig
from controller.planning.forecast import DemandHistory
from scoring import Decision, Direction
from scoring.model import BoolArray, FloatArray

if TYPE_CHECKING:
    from controller.planning.constraints import SchedulingView
    from controller.planning.triggers import TriggerFact


class MachineState(enum.Enum):
    """The lifecycle a machine moves through; stored in the BareMetalNode status."""

    OFF = "off"
    POWERING_ON = "powering-on"
    JOINING = "joining"
    READY = "ready"
    DRAINING = "draining"
    POWERING_OFF = "powering-off"
    ERROR = "error"

    in_flight_up: bool
    """Capacity on its way: counted so one need is not answered twice."""
    in_flight_down: bool

    def __init__(self, value: str) -> None:
        # Plain attributes, set once per member: they are read for every machine on
        # every planning pass, where a property's call costs more than the test.
        self.in_flight_up = value in ("powering-on", "joining")
        self.in_flight_down = value in ("draining", "powering-off")


@dataclass(frozen=True)
class MachineView:
    """One machine as the planner needs it."""

    name: str
    pool: str
    capacity: FloatArray
    """(resources,) in RESOURCES order."""
    state: MachineState
    since: float
    """When the machine entered its state (clock seconds)."""
    boot_seconds: float
    idle_watts: float
    failures: int = 0
    """Consecutive failed power-ons; doubles the backoff and weighs in the score."""
    backoff_until: float = 0.0
    scale_down_disabled: bool = False
    node: str = ""
    """Its Node's name once joined; empty: the machine's own name."""
    quarantined: bool = False
    """Its BMC failed too often in a row: chosen for nothing until a probe answers."""

    @property
    def node_name(self) -> str:
        return self.node or self.name
    held: str | None = None
    """``on`` or ``off`` when a person holds the machine there (``powerState``): the
    planner brings it there and otherwise leaves it alone; None lets it decide."""

    def starting(self, kind: ActionKind, at: float) -> MachineView:
        """This machine once an action of kind has started at ``at``, before the action
        records its first step: a pass in between must see it on its way, or it would
        choose it again and count a second power-on against the rate limit."""
        heading = _heading(kind, self.state)
        if heading is self.state:
            return self
        return dataclasses.replace(self, state=heading, since=at)


@dataclass(frozen=True)
class PoolSignal:
    """A pool's pressure and pending requests as measured, all (resources,).

    Facts only: the planner derives the signal it decides on (``signals.effective``),
    so what a silence or a join means is a planning rule, not the snapshot's.
    """

    levels: FloatArray
    """Mean level over the pool's Ready nodes whose agents reported recently."""
    rates: FloatArray
    pending: FloatArray
    """Requests of the pool's unschedulable pods."""
    pending_pods: int = 0
    unheard: BoolArray | None = None
    """True for each resource the agents measure when the pool has Ready nodes and
    none of their agents reported recently (its level is then unknown, not 0); None
    when the pool was heard from."""


@dataclass(frozen=True)
class PoolMemory:
    """What the planner remembers about a pool between passes (windows, rate limits)."""

    wants_up_since: float | None = None
    wants_down_since: float | None = None
    power_ons: tuple[float, ...] = ()
    power_offs: tuple[float, ...] = ()
    last_scale_up: float | None = None
    rotating: tuple[str, str] | None = None
    """(old machine, its replacement) of the pool's recycling in progress
    (``recycling``): the old one goes once the replacement is Ready."""
    demand: DemandHistory | None = None
    """The pool's demand per bucket and forecast errors (``forecast``); the controller
    keeps it in its state store, so a restart keeps the rhythm."""


@dataclass(frozen=True)
class Snapshot:
    now: float
    config: AutoscalerConfig
    machines: tuple[MachineView, ...]
    signals: dict[str, PoolSignal]
    memory: dict[str, PoolMemory] = field(default_factory=dict)
    pools: frozenset[str] | None = None
    """Plan only these pools (``machines`` may then hold only theirs); None: every pool.
    An event names what it touched, and a pass over one pool of a large fleet costs a
    fraction of a pass over all of them."""
    scheduling: SchedulingView | None = None
    """The scheduler's view (``constraints``); None: decide on pressure and summed
    requests alone (the trace simulator has no pods)."""
    wall: float | None = None
    """The wall-clock time at ``now`` (Unix seconds), for the pools' schedules; None:
    no schedule applies (``now`` is a monotonic clock that knows no dates)."""
    triggers: Mapping[str, tuple[TriggerFact, ...]] = field(default_factory=dict)
    """Pool → its PromQL triggers' states at their last evaluation (``triggers``);
    a pool without triggers has none."""


class ActionKind(enum.Enum):
    POWER_ON = "power-on"
    POWER_OFF = "power-off"
    """Drain, then power off."""
    ABORT_BOOT = "abort-boot"
    """The machine did not join in time: power it off, record the error, back off."""


def _heading(kind: ActionKind, state: MachineState) -> MachineState:
    """The state a machine in state is headed for once an action of kind starts."""
    if kind is ActionKind.POWER_ON and state in (MachineState.OFF, MachineState.ERROR):
        return MachineState.POWERING_ON
    if kind is ActionKind.POWER_OFF and state is MachineState.READY:
        return MachineState.DRAINING
    return state


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    machine: str
    pool: str
    reason: str


@dataclass(frozen=True)
class DecisionRecord:
    """One pool's decision in one pass, kept for ``bamel explain``."""

    at: float
    pool: str
    direction: Direction | None
    reason: str
    levels: dict[str, float]
    rates: dict[str, float]
    demand: dict[str, float]
    chosen: tuple[str, ...]
    excluded: dict[str, str]
    """Machine → why it was not a candidate."""
    scores: tuple[Decision, ...] = ()
    unplaceable: dict[str, str] = field(default_factory=dict)
    """Pending pod → why no machine of the pool could run it (nothing powers on for it)."""
    ignored: dict[str, str] = field(default_factory=dict)
    """Pending pod → why it does not ask for a machine (expendable, gated, nominated)."""
    triggers: dict[str, dict[str, object]] = field(default_factory=dict)
    """The pool's PromQL triggers: each one's state and whether it made the decision."""

    def as_dict(self, *, top: int = 5) -> dict[str, object]:
        """A JSON-ready summary with each scored candidate's contributions."""
        rounds = []
        for decision in self.scores:
            ranking = decision.explanation.ranking(top) if decision.explanation else []
            rounds.append({
                "winner": decision.winner,
                "reason": decision.reason,
                "candidates": [
                    {"name": c.name, "rank": c.rank, "total": round(c.total, 6),
                     "contributions": {k: round(v, 6) for k, v in c.contributions.items()},
                     "failures": round(c.failures, 6)}
                    for c in ranking
                ],
            })
        summary: dict[str, object] = {
            "at": self.at, "pool": self.pool,
            "direction": self.direction.value if self.direction else None,
            "reason": self.reason, "levels": self.levels, "rates": self.rates,
            "demand": self.demand, "chosen": list(self.chosen), "excluded": self.excluded,
            "unplaceable": self.unplaceable, "ignored": self.ignored, "rounds": rounds,
        }
        if self.triggers:
            summary["triggers"] = self.triggers
        return summary


def zeros(resources: int) -> FloatArray:
    """An all-zero per-resource vector."""
    return np.zeros(resources, dtype=np.float64)
