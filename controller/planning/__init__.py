"""Deciding what to power on and off: estimate → filter → score → plan.

Each step is a pure function over a Snapshot taken at one instant, so the same
code runs in the controller, in ``--once`` and in the trace simulator, and unit
tests drive it with an injected clock.
"""

from controller.planning.planner import Planner, PlanResult
from controller.planning.snapshot import (
    Action,
    ActionKind,
    DecisionRecord,
    MachineState,
    MachineView,
    PoolMemory,
    PoolSignal,
    Snapshot,
)

__all__ = [
    "Action",
    "ActionKind",
    "DecisionRecord",
    "MachineState",
    "MachineView",
    "PlanResult",
    "Planner",
    "PoolMemory",
    "PoolSignal",
    "Snapshot",
]
