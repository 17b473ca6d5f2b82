"""Trace replay: what the autoscaler would have done with a fleet under real load.

The world (machines, boots, failures, pressure) is simulated; the decisions of the
``bamel`` policy are the real planner's. Baselines reproduce other autoscalers so
the figures mean something. docs/simulation.md describes the model.
"""

from controller.simulation.engine import Run, simulate
from controller.simulation.fleet import Fleet, FleetError, load_fleet, load_fleet_text
from controller.simulation.metrics import Figures, Series
from controller.simulation.policies import POLICIES, Policy, make_policy
from controller.simulation.trace import Trace, TraceError, ValueKind, load_trace, parse_map

__all__ = [
    "POLICIES",
    "Figures",
    "Fleet",
    "FleetError",
    "Policy",
    "Run",
    "Series",
    "Trace",
    "TraceError",
    "ValueKind",
    "load_fleet",
    "load_fleet_text",
    "load_trace",
    "make_policy",
    "parse_map",
    "simulate",
]
