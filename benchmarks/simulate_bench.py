"""Simulation speed: 8 days of the 30 s Alibaba trace through the real planner,
1,000 machines (examples/fleet.yaml), one core."""

from __future__ import annotations

import time
from pathlib import Path

from simulation import load_fleet, load_trace, make_policy, parse_map, simulate

ROOT = Path(__file__).resolve().parent.parent
TRACE = (ROOT.parent / "shared" / "traces" / "alibaba2018"
         / "machine_usage_days_1_to_8_grouped_30_seconds.csv")
FLEET = ROOT / "examples" / "fleet.yaml"
MAPPING = "cpu=cpu_util_percent"
"""net_in and net_out in this trace are cumulative counters, not load: see
docs/simulation.md."""


def run() -> list[str]:
    """One line: wall-clock seconds of the bamel policy over the whole trace."""
    if not TRACE.exists():
        return [f"simulate: skipped, no trace at {TRACE}"]
    fleet = load_fleet(FLEET)
    trace = load_trace(TRACE, mapping=parse_map(MAPPING), stride="30s")
    start = time.perf_counter()
    result = simulate(fleet, trace, make_policy("bamel", fleet.config))
    seconds = time.perf_counter() - start
    days = trace.duration / 86400
    figures = result.figures
    return [f"simulate: {days:.0f} days x {len(fleet)} machines in {seconds:.1f} s "
            f"(bamel: {figures.energy_kwh:,.0f} kWh, unmet {figures.unmet_share:.4%})"]
