"""The controller's Prometheus metrics, in a registry of its own.

One registry per controller instance keeps tests (and several controllers in one
process, as in the lab) from sharing counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ControllerMetrics:
    """Every metric the controller exports, named ``bamel_controller_*``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("bamel_controller_ingest_frames", "Accepted pressure frames",
                              registry=r)
        self.rejects = Counter("bamel_controller_ingest_rejects",
                               "Rejected pressure frames by reason", ["reason"], registry=r)
        self.connections = Gauge("bamel_controller_ingest_connections",
                                 "Open agent connections", registry=r)
        self.pool_level = Gauge("bamel_controller_pool_pressure_level",
                                "Mean pressure level of a pool's nodes", ["pool", "resource"],
                                registry=r)
        self.pool_rate = Gauge("bamel_controller_pool_pressure_rate",
                               "Mean pressure rate of change per second", ["pool", "resource"],
                               registry=r)
        self.decisions = Counter("bamel_controller_decisions",
                                 "Planning outcomes by pool, direction and reason kind",
                                 ["pool", "direction", "outcome"], registry=r)
        self.power_actions = Counter("bamel_controller_power_actions",
                                     "Power actions by driver, action and result",
                                     ["driver", "action", "result"], registry=r)
        self.machine_state = Gauge("bamel_controller_machine_state",
                                   "1 for the state each machine is in",
                                   ["machine", "pool", "state"], registry=r)
        self.decision_latency = Histogram(
            "bamel_controller_decision_latency_seconds", "Time of one planning pass",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r)
        self.config_reloads = Counter("bamel_controller_config_reloads",
                                      "Configuration reloads by result", ["result"], registry=r)
        self.energy_watts = Gauge("bamel_controller_fleet_watts",
                                  "Estimated draw of the fleet from machine states and watts",
                                  ["pool"], registry=r)

    def render(self) -> bytes:
        """The exposition text for /metrics."""
        return generate_latest(self.registry)
