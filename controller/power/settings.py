"""Typed settings for each driver: one schema that both the config check and the build read.

``PowerAction.settings`` is a free mapping in the configuration schema because each
driver wants different keys; each driver declares a model, and the registry holds
it beside the driver's factory. ``bamel config check``, the controller's start and
every reload call :func:`settings_problems` with that model (no credentials, no
network), and the build parses with the same model, so a typo fails with its field
path long before the first power-on needs the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from controller.config import describe_error, field_path
from controller.power.errors import PowerError


class DriverSettings(BaseModel):
    """Unknown keys are rejected; camelCase in YAML, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


SettingsT = TypeVar("SettingsT", bound=DriverSettings)


def settings_problems(model: type[DriverSettings], settings: Mapping[str, Any]) -> list[str]:
    """Every bad key of ``settings`` as ``settings.key: reason``; empty when valid."""
    try:
        model.model_validate(dict(settings))
    except ValidationError as error:
        return [_describe(model, detail) for detail in error.errors()]
    return []


def parse_settings(
    model: type[SettingsT], settings: Mapping[str, Any], *, driver: str, machine: str
) -> SettingsT:
    """The validated settings, or ``PowerError(rejected)`` naming every bad field."""
    problems = settings_problems(model, settings)
    if problems:
        raise PowerError("; ".join(problems), category="rejected", driver=driver,
                         machine=machine)
    return model.model_validate(dict(settings))


def _describe(model: type[DriverSettings], detail: ErrorDetails) -> str:
    """One error as ``settings.key: reason``; an unknown key lists the known ones."""
    located: ErrorDetails = {**detail, "loc": ("settings", *detail["loc"])}
    if detail["type"] != "extra_forbidden":
        return describe_error(located)
    value = detail.get("input")
    shown = repr(value) if isinstance(value, str) else str(value)
    known = ", ".join(field.alias or name for name, field in model.model_fields.items())
    return f"{field_path(located['loc'])}: unknown key (value {shown}); known: {known}"
