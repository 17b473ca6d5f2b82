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
                                 "Planning outcomes by pool, direction, outcome and reason kind",
                                 ["pool", "direction", "outcome", "reason"], registry=r)
        self.leader = Gauge("bamel_controller_leader",
                            "1 while this replica leads (plans and acts), else 0", registry=r)
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
        self.unplaceable_pods = Gauge(
            "bamel_controller_unplaceable_pods",
            "Pending pods no machine could run, so they power nothing on, by pool "
            "(pool \"\" for pods no pool admits)", ["pool"], registry=r)
        self.power_drift = Counter(
            "bamel_controller_power_drift",
            "Power states found unlike the record (switched outside the controller)",
            ["machine", "observed", "recorded"], registry=r)
        self.status_reads = Counter("bamel_controller_power_status_reads",
                                    "Power status reads of the power sync by result",
                                    ["machine", "result"], registry=r)
        self.quarantined = Gauge("bamel_controller_machine_quarantined",
                                 "1 while a machine is quarantined for BMC failures",
                                 ["machine"], registry=r)
        self.quarantines = Counter("bamel_controller_quarantine_transitions",
                                   "Machines entering and leaving quarantine",
                                   ["machine", "transition"], registry=r)
        self.trigger_state = Gauge(
            "bamel_controller_trigger_state",
            "1 for the state each PromQL trigger is in (ok, pending, firing, error)",
            ["pool", "trigger", "state"], registry=r)
        self.trigger_value = Gauge("bamel_controller_trigger_value",
                                   "Each PromQL trigger's last value (NaN when it has none)",
                                   ["pool", "trigger"], registry=r)
        self.trigger_errors = Counter(
            "bamel_controller_trigger_errors",
            "PromQL trigger evaluations that gave no usable value, by kind "
            "(unreachable, refused, empty, series, not-a-number)",
            ["pool", "trigger", "kind"], registry=r)
        self.warm_ups = Counter(
            "bamel_controller_warm_ups",
            "Image warm-up pods by pool and outcome (started, succeeded, failed: the "
            "command failed after the pulls, timed-out: deleted unfinished)",
            ["pool", "outcome"], registry=r)
        self.energy_watts = Gauge("bamel_controller_fleet_watts",
                                  "Draw of each pool's machines now, in watts (BMC readings "
                                  "where they stand, else the watts model)",
                                  ["pool"], registry=r)
        self.machine_watts = Gauge("bamel_controller_machine_watts",
                                   "Draw of each machine now, in watts, by where it comes from",
                                   ["machine", "pool", "source"], registry=r)
        self.machine_energy = Counter("bamel_controller_machine_energy_joules",
                                      "Energy each machine drew, by source (bmc or model)",
                                      ["machine", "pool", "source"], registry=r)
        self.pool_energy = Counter("bamel_controller_pool_energy_joules",
                                   "Energy each pool's machines drew", ["pool"], registry=r)
        self.pool_always_on_energy = Counter(
            "bamel_controller_pool_always_on_energy_joules",
            "Energy each pool would have drawn had no machine been powered off "
            "(machines off counted at their idle watts)", ["pool"], registry=r)
        self.pool_energy_saved = Counter(
            "bamel_controller_pool_energy_saved_joules",
            "Always-on energy less the energy drawn, by pool", ["pool"], registry=r)

    def decided(self, *, pool: str, direction: str, outcome: str, reason: str) -> None:
        """Count one pool's decision, its free-text reason reduced to a bounded kind."""
        self.decisions.labels(pool, direction, outcome, reason_kind(reason)).inc()

    def render(self) -> bytes:
        """The exposition text for /metrics."""
        return generate_latest(self.registry)


REASON_KINDS: tuple[tuple[str, str], ...] = (
    ("during schedule", "schedule"),
    ("warm capacity", "warm-capacity"),
    ("recycling:", "recycling"),
    ("trigger ", "trigger"),
    ("below minNodes", "min-nodes"),
    ("pending pods", "pending-pods"),
    ("pending pod(s)", "pending-pods"),
    ("have somewhere to go", "no-room-elsewhere"),
    ("stabilizing", "stabilizing"),
    ("unneeded", "unneeded-wait"),
    ("cooldown", "cooldown"),
    ("rate limit", "rate-limit"),
    ("in flight", "in-flight"),
    ("on its way", "in-flight"),
    ("still joining", "in-flight"),
    ("no machine can", "no-candidate"),
    ("no surplus", "no-surplus"),
    ("ready below target", "below-target"),
    ("ready above target", "above-target"),
    ("ready within target", "steady"),
    ("rising", "pressure-rising"),
    ("above", "pressure-high"),
    ("falling", "pressure-falling"),
    ("within thresholds", "steady"),
)
"""Phrase in a decision's reason → label value, first match wins. Reasons are free text
(they name resources and numbers); a label must take few values, so it gets the kind."""


def reason_kind(reason: str) -> str:
    """The bounded label value for a decision reason ("other" when none matches)."""
    for phrase, kind in REASON_KINDS:
        if phrase in reason:
            return kind
    return "other"
