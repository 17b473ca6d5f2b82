"""The autoscaler's configuration: one validated YAML document (the ConfigMap body).

Everything else reads settings from here, typed and checked once, so that a bad
value fails at load with its field path instead of deep inside a decision.
"""

from controller.config.holder import ConfigHolder
from controller.config.loading import (
    ConfigError,
    SettingsError,
    load_config,
    load_config_text,
    render_config,
)
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
    "ConfigHolder",
    "MachineSpec",
    "PoolSpec",
    "ScoringSpec",
    "SettingsError",
    "load_config",
    "load_config_text",
    "render_config",
]
