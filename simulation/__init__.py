"""Trace replay: what the autoscaler would have done with a fleet under real load.

The world (machines, boots, failures, pressure) is simulated; the decisions of the
``bamel`` policy are the real planner's. Baselines reproduce other autoscalers so
the figures mean something. docs/simulation.md describes the model.
"""

from simulation.engine import Run, simulate
from simulation.fleet import Fleet, FleetError, load_fleet, load_fleet_text
from simulation.metrics import Figures, Series
from simulation.policies import FACTORIES, POLICIES, Policy, PolicyFactory, make_policy
from simulation.trace import Trace, TraceError, ValueKind, load_trace, parse_map

__all__ = [
    "FACTORIES",
    "POLICIES",
    "Figures",
    "Fleet",
    "FleetError",
    "Policy",
    "PolicyFactory",
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
