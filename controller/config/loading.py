"""Loading, validating and rendering the configuration document.

Pydantic checks types and ranges; this module adds the checks that span sections
(a machine's pool exists, names and MACs are unique, min ≤ max) and turns every
failure into ``path: value reason`` lines a person can act on. The power drivers a
machine may name, and the check of each one's settings, are passed in by the caller
that will build them (the power registry): configuration knows nothing of BMC
libraries, and each driver's settings rule has one owner, its schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from controller.config.schema import AutoscalerConfig, MachineSpec, PoolSpec
from faults import BoundaryError

MIN_SYNC_INTERVAL = 10.0
"""Seconds: a shorter power sync would read each BMC more often than its power can
change and crowd out the calls that change it."""


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: ``on:``/``off:``/``yes`` stay strings.

    PyYAML follows YAML 1.1, where the power section's ``on:`` key would become True.
    """


class _Yaml12Dumper(yaml.SafeDumper):
    """SafeDumper that writes ``on:`` unquoted, as the loader reads it back."""


for _yaml_class in (_Yaml12Loader, _Yaml12Dumper):
    _yaml_class.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _yaml_class.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )


def parse_yaml(text: str) -> object:
    """Parse one YAML document with YAML 1.2 booleans."""
    return yaml.load(text, Loader=_Yaml12Loader)


def dump_yaml(document: object) -> str:
    """Write a document that parse_yaml reads back unchanged."""
    return yaml.dump(document, Dumper=_Yaml12Dumper, sort_keys=False)


class DriverCheck(Protocol):
    """What the loader needs of a power driver: whether settings suit it, offline."""

    def settings_problems(self, settings: Mapping[str, Any]) -> list[str]:
        """Each problem as ``settings.key: reason``; empty when the settings are valid."""
        ...


Drivers = Mapping[str, DriverCheck]


class ConfigError(ValueError, BoundaryError):
    """The configuration is invalid; ``problems`` holds one ``path: reason`` line each."""

    retriable = False
    heading = "invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{self.heading}:\n  " + "\n  ".join(problems))
        self.problems = problems


class SettingsError(ConfigError):
    """A process setting (a flag, or a file a flag names) is unusable: the process cannot
    start until someone changes it, so it is a configuration error, not a bug."""

    heading = "invalid settings"

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


def load_config(path: str | Path, *, drivers: Drivers | None = None) -> AutoscalerConfig:
    """Read and validate the file at path (see :func:`load_config_text` for ``drivers``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read ({error.strerror})"]) from error
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: not UTF-8 text ({error.reason} at byte "
                           f"{error.start})"]) from error
    return load_config_text(text, drivers=drivers)


def load_config_text(text: str, *, drivers: Drivers | None = None) -> AutoscalerConfig:
    """Validate a YAML document; raise ConfigError naming every bad field and value.

    drivers: the power drivers a machine may use, by name, each checking its own
    settings; None when the caller builds no drivers (a simulation, a rendering) and
    any name and settings pass.
    """
    try:
        document = parse_yaml(text)
    except yaml.YAMLError as error:
        raise ConfigError([f"not valid YAML: {error}"]) from error
    if not isinstance(document, dict):
        raise ConfigError([f"the document must be a mapping, not {type(document).__name__}"])
    try:
        config = AutoscalerConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError([describe_error(detail) for detail in error.errors()]) from None
    problems = list(_cross_checks(config))
    if drivers is not None:
        problems += _driver_problems(config, drivers)
    if problems:
        raise ConfigError(problems)
    return config


def render_config(config: AutoscalerConfig) -> str:
    """The effective configuration, defaults filled in, as YAML."""
    document = config.model_dump(by_alias=True, mode="json")
    return dump_yaml(document)


def _cross_checks(config: AutoscalerConfig) -> Iterator[str]:
    pool_names = [pool.name for pool in config.pools]
    yield from _duplicates("pools", pool_names, "name")
    yield from _duplicates("machines", [m.name for m in config.machines], "name")
    macs = [m.mac.lower().replace("-", ":") if m.mac else None for m in config.machines]
    yield from _duplicates("machines", macs, "mac")
    for index, pool in enumerate(config.pools):
        limits = pool.limits
        if limits.max_nodes and limits.min_nodes > limits.max_nodes:
            yield (f"pools[{index}].limits.minNodes: {limits.min_nodes} is above "
                   f"maxNodes {limits.max_nodes}")
        yield from _schedule_problems(f"pools[{index}]", pool)
        yield from _trigger_problems(f"pools[{index}]", pool)
        if pool.spare.nodes and (pool.spare.cpu or pool.spare.memory):
            yield (f"pools[{index}].spare.nodes: {pool.spare.nodes} with cpu or memory; "
                   f"give requests or nodes, not both")
        yield from _warm_up_problems(f"pools[{index}].warmUp", pool)
    for index, machine in enumerate(config.machines):
        for problem in machine_problems(machine, pool_names):
            yield f"machines[{index}].{problem}"
    yield from _prometheus_problems(config)
    interval = config.power_sync.interval
    if 0 < interval < MIN_SYNC_INTERVAL:
        yield (f"powerSync.interval: {interval:g} is below {MIN_SYNC_INTERVAL:g} "
               "(0 turns the sync off)")
    for resource, thresholds in _all_thresholds(config):
        if thresholds.level_low is not None and thresholds.level_high is not None \
                and thresholds.level_low >= thresholds.level_high:
            yield (f"scoring.thresholds{resource}.levelLow: {thresholds.level_low:g} is not "
                   f"below levelHigh {thresholds.level_high:g}")


def _schedule_problems(path: str, pool: PoolSpec) -> Iterator[str]:
    yield from _duplicates(f"{path}.schedules", [s.name for s in pool.schedules], "name")
    for index, schedule in enumerate(pool.schedules):
        where = f"{path}.schedules[{index}]"
        if schedule.start == "24:00":
            yield f"{where}.start: '24:00' is the end of a day; start at '00:00'"
        elif schedule.start == schedule.end:
            yield (f"{where}.end: {schedule.end!r} equals start; a whole day is "
                   f"'00:00' to '24:00'")
        if schedule.min_nodes is None and schedule.power_off == "any":
            yield f"{where}: says nothing; set minNodes or powerOff (never, only)"
        maximum = pool.limits.max_nodes
        if schedule.min_nodes is not None and maximum and schedule.min_nodes > maximum:
            yield (f"{where}.minNodes: {schedule.min_nodes} is above limits.maxNodes "
                   f"{maximum}")


def _trigger_problems(path: str, pool: PoolSpec) -> Iterator[str]:
    yield from _duplicates(f"{path}.triggers", [t.name for t in pool.triggers], "name")


def _prometheus_problems(config: AutoscalerConfig) -> Iterator[str]:
    """A trigger needs a Prometheus to ask; a query must end before the next one starts.
    Whether a query is valid PromQL only the server can say: the controller shows its
    answer as the trigger's error."""
    prometheus = config.prometheus
    first = next((f"pools[{index}].triggers[0] ({pool.triggers[0].name!r})"
                  for index, pool in enumerate(config.pools) if pool.triggers), None)
    if first is not None and prometheus.url is None:
        yield f"prometheus.url: is required: {first} is evaluated there"
    if prometheus.timeout >= prometheus.interval:
        yield (f"prometheus.timeout: {prometheus.timeout:g} is not below interval "
               f"{prometheus.interval:g}")


def _warm_up_problems(path: str, pool: PoolSpec) -> Iterator[str]:
    """``mode: list`` needs images; ``mode: top`` chooses them, so a list there is a
    mistake that would silently be ignored."""
    warm_up = pool.warm_up
    if warm_up.mode == "list" and not warm_up.images:
        yield f"{path}.images: empty with mode 'list'; name the images to pull"
    if warm_up.mode == "top" and warm_up.images:
        yield (f"{path}.images: {warm_up.images!r} with mode 'top', which chooses the "
               f"images itself; set mode: list, or remove images")


def machine_problems(machine: MachineSpec, pool_names: Sequence[str]) -> Iterator[str]:
    """What is wrong with one machine beside its own fields, as ``field: reason``
    relative to the machine (its pool must exist; busy draws at least idle)."""
    if machine.pool not in pool_names:
        yield f"pool: {machine.pool!r} is not a pool ({', '.join(pool_names)})"
    if machine.busy_watts < machine.idle_watts:
        yield (f"busyWatts: {machine.busy_watts:g} is below "
               f"idleWatts {machine.idle_watts:g}")


def _driver_problems(config: AutoscalerConfig, drivers: Drivers) -> Iterator[str]:
    for index, machine in enumerate(config.machines):
        for problem in machine_driver_problems(machine, drivers):
            yield f"machines[{index}].{problem}"


def machine_driver_problems(machine: MachineSpec, drivers: Drivers) -> Iterator[str]:
    """Each power action's unknown driver or bad settings, as ``power.on.field: reason``."""
    known = ", ".join(sorted(drivers))
    for which, action in (("on", machine.power.on), ("off", machine.power.off)):
        path = f"power.{which}"
        driver = drivers.get(action.driver)
        if driver is None:
            yield f"{path}.driver: {unknown_driver(action.driver, known)}"
            continue
        for problem in driver.settings_problems(action.settings):
            yield f"{path}.{problem}"


PLACEHOLDER_DRIVER = "FILL-IN"
"""The driver ``bamel discover`` writes where only a person knows how to reach the
machine's BMC; every check rejects it until it is replaced."""


def unknown_driver(name: str, known: str) -> str:
    """The reason a driver name is refused; the discover placeholder says what to do."""
    if name == PLACEHOLDER_DRIVER:
        return (f"{name!r} left by bamel discover: name how to reach this machine "
                f"({known}) and its settings")
    return f"unknown driver {name!r}; known: {known}"


def _all_thresholds(config: AutoscalerConfig) -> Iterator[tuple[str, Any]]:
    thresholds = config.scoring.thresholds
    yield "", thresholds
    for resource in thresholds.resources:
        yield f".resources.{resource}", thresholds.for_resource(resource)


def _duplicates(section: str, values: Iterable[str | None], field: str) -> Iterator[str]:
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            yield f"{section}[{index}].{field}: {value!r} repeats {section}[{seen[value]}]"
        else:
            seen[value] = index


def describe_error(detail: ErrorDetails) -> str:
    """One pydantic error as ``path: reason``; documents validated like the
    configuration (the simulator's fleet file) report their errors the same way."""
    path = field_path(detail["loc"])
    value = _show(detail.get("input"))
    context = detail.get("ctx") or {}
    kind = detail["type"]
    reasons: dict[str, Callable[[], str]] = {
        "greater_than_equal": lambda: f"{value} is below {context.get('ge')}",
        "greater_than": lambda: f"{value} is not above {context.get('gt')}",
        "less_than_equal": lambda: f"{value} is above {context.get('le')}",
        "less_than": lambda: f"{value} is not below {context.get('lt')}",
        "extra_forbidden": lambda: f"unknown field (value {value})",
        "missing": lambda: "is required",
        "literal_error": lambda: f"{value} is not one of {context.get('expected')}",
        "string_pattern_mismatch": lambda: f"{value} is not of the form {context.get('pattern')}",
        "too_short": lambda: f"{value} must have at least {context.get('min_length')} item(s)",
        "value_error": lambda: str(context.get("error", detail["msg"])),
    }
    default: Callable[[], str] = lambda: f"{value}: {detail['msg']}"  # noqa: E731
    reason = reasons.get(kind, default)()
    return f"{path}: {reason}" if path else reason


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the document's path: ``machines[2].power.on``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)
