"""The autoscaler's configuration: one validated YAML document (the ConfigMap body).

Everything else reads settings from here, typed and checked once, so that a bad
value fails at load with its field path instead of deep inside a decision.
"""

from controller.config.loading import ConfigError, load_config, load_config_text, render_config
from controller.config.schema import (
    RESOURCES,
    AutoscalerConfig,
    MachineSpec,
    PoolSpec,
    ScoringSpec,
)

__all__ = [
    "RESOURCES",
    "AutoscalerConfig",
    "ConfigError",
    "MachineSpec",
    "PoolSpec",
    "ScoringSpec",
    "load_config",
    "load_config_text",
    "render_config",
]
