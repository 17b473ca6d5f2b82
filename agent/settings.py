"""The agent's settings: typed, validated once at start, logged whole."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.model import ModelSettings
from agent.probes import LOAD_TIMEOUT_S
from faults import BoundaryError


class AgentConfigError(ValueError, BoundaryError):
    """A setting is out of range; the message names the field and the bad value."""

    retriable = False


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent needs to run; units in the names."""

    controller: str | None = None
    """Websocket URL of the controller's stream, e.g. ws://host:port/v1/stream; None = no stream."""
    token_file: Path | None = None
    """File holding the bearer token; read at every connect so a rotated token is picked up."""
    interval_s: float = 1.0
    """A sample is sent at least this often."""
    check_interval_s: float = 0.25
    """How often levels are checked for a threshold crossing that sends a sample at once."""
    level_thresholds: tuple[float, ...] = (0.5, 0.8, 0.95)
    """Crossing one of these (either way) since the last sample sends one at once."""
    rate_threshold_per_s: float = 1.0
    """A level moving faster than this since the last sample sends one at once."""
    buffer_size: int = 600
    """Samples kept while the controller is unreachable (10 minutes at 1 s)."""
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9102
    """Port for /metrics and /healthz; None = no HTTP endpoint."""
    use_bpf: bool = True
    probe_load_timeout_s: float = LOAD_TIMEOUT_S
    """How long the probe loader may compile and attach (about 1.5 s on an idle node, far
    more on a saturated one); past it the probes are refused and PSI and /proc serve."""
    model: ModelSettings = field(default_factory=ModelSettings)

    def validate(self) -> AgentSettings:
        """Return self, or raise :class:`AgentConfigError` naming the first bad field."""
        positive = {
            "interval_s": self.interval_s, "check_interval_s": self.check_interval_s,
            "rate_threshold_per_s": self.rate_threshold_per_s,
            "backoff_base_s": self.backoff_base_s, "backoff_cap_s": self.backoff_cap_s,
            "probe_load_timeout_s": self.probe_load_timeout_s,
            "model.link_bits_per_s": self.model.link_bits_per_s,
            "model.rate_time_constant_s": self.model.rate_time_constant_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise AgentConfigError(f"{name}: must be a positive number, got {value!r}")
        if self.buffer_size < 1:
            raise AgentConfigError(f"buffer_size: must be ≥ 1, got {self.buffer_size!r}")
        for threshold in self.level_thresholds:
            if not 0 < threshold < 1:
                raise AgentConfigError(f"level_thresholds: {threshold!r} is not in (0, 1)")
        if self.controller is not None and not self.controller.startswith(("ws://", "wss://")):
            raise AgentConfigError(f"controller: must be a ws:// or wss:// URL, got "
                                   f"{self.controller!r}")
        return self

    def as_dict(self) -> dict[str, Any]:
        """For the start-up log line."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
