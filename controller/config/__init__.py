"""The autoscaler's configuration: one validated YAML document (the ConfigMap body).

Everything else reads settings from here, typed and checked once, so that a bad
value fails at load with its field path instead of deep inside a decision. The
field types, the ``Spec`` base and the error wording are public too, so that other
documents (the simulator's fleet file) validate and report the same way.
"""

from controller.config.holder import ConfigHolder
from controller.config.inventory import (
    SOURCE_CONFIGURATION,
    SOURCE_DECLARED,
    declared_machine,
    with_declared,
)
from controller.config.loading import (
    PLACEHOLDER_DRIVER,
    ConfigError,
    SettingsError,
    describe_error,
    field_path,
    load_config,
    load_config_text,
    parse_yaml,
    render_config,
)
from controller.config.schema import (
    RESOURCES,
    AutoscalerConfig,
    Capacity,
    Duration,
    EnergySpec,
    Fraction,
    MachineSpec,
    Name,
    PoolSpec,
    PowerSpec,
    PowerSyncSpec,
    PrometheusSpec,
    QuarantineSpec,
    ScoringSpec,
    SizingSpec,
    Spec,
    TriggerSpec,
    WarmUpSpec,
)
from controller.config.units import parse_duration

__all__ = [
    "PLACEHOLDER_DRIVER",
    "RESOURCES",
    "SOURCE_CONFIGURATION",
    "SOURCE_DECLARED",
    "AutoscalerConfig",
    "Capacity",
    "ConfigError",
    "ConfigHolder",
    "Duration",
    "EnergySpec",
    "Fraction",
    "MachineSpec",
    "Name",
    "PoolSpec",
    "PowerSpec",
    "PowerSyncSpec",
    "PrometheusSpec",
    "QuarantineSpec",
    "ScoringSpec",
    "SettingsError",
    "SizingSpec",
    "Spec",
    "TriggerSpec",
    "WarmUpSpec",
    "declared_machine",
    "describe_error",
    "field_path",
    "load_config",
    "load_config_text",
    "parse_duration",
    "parse_yaml",
    "render_config",
    "with_declared",
]
