"""What the fleet is doing now, as gauges: each machine's state and each pool's draw.

The dashboard's "machine states over time" and "energy" panels read these. Draw is
estimated, not metered: a machine off draws its standby watts, a machine up draws
its idle watts plus the busy share scaled by its node's CPU pressure level (the
simplest proxy for utilisation the agents report), the same model the simulator
uses for its savings figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.config import AutoscalerConfig, MachineSpec
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState

_STANDBY = (MachineState.OFF, MachineState.ERROR)
_LOADED = (MachineState.READY, MachineState.DRAINING)


def machine_watts(spec: MachineSpec, state: MachineState, cpu_level: float) -> float:
    """Estimated draw of one machine in state at cpu_level (0..1)."""
    if state in _STANDBY:
        return spec.off_watts
    if state in _LOADED:
        share = min(max(cpu_level, 0.0), 1.0)
        return spec.idle_watts + (spec.busy_watts - spec.idle_watts) * share
    return spec.idle_watts


def publish(metrics: ControllerMetrics, config: AutoscalerConfig,
            records: Mapping[str, MachineRecord],
            cpu_level: Callable[[str], float]) -> None:
    """Set every machine's state gauge and every pool's estimated watts."""
    watts = dict.fromkeys((pool.name for pool in config.pools), 0.0)
    for spec in config.machines:
        record = records.get(spec.name, MachineRecord())
        for state in MachineState:
            metrics.machine_state.labels(spec.name, spec.pool, state.value).set(
                1.0 if state is record.state else 0.0)
        node = record.kubernetes_node or spec.name
        watts[spec.pool] += machine_watts(spec, record.state, cpu_level(node))
    for pool, total in watts.items():
        metrics.energy_watts.labels(pool).set(total)
