"""Typed settings for each driver, validated when the driver is built.

``PowerAction.settings`` is a free mapping in the configuration schema because each
driver wants different keys; each driver declares a model here-style and parses it
once, so a typo fails at start with the field's path, not at the first power-on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from controller.power.errors import PowerError


class DriverSettings(BaseModel):
    """Unknown keys are rejected; camelCase in YAML, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


SettingsT = TypeVar("SettingsT", bound=DriverSettings)


def parse_settings(
    model: type[SettingsT], settings: Mapping[str, Any], *, driver: str, machine: str
) -> SettingsT:
    """The validated settings, or ``PowerError(rejected)`` naming every bad field."""
    try:
        return model.model_validate(dict(settings))
    except ValidationError as error:
        problems = "; ".join(
            f"settings.{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise PowerError(
            problems, category="rejected", driver=driver, machine=machine
        ) from None
