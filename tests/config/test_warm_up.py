"""``pools[].warmUp``: defaults, and refusals that name the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import ConfigError, load_config, load_config_text
from controller.config.loading import dump_yaml

BASE = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "pools": [{"name": "general"}]}


def problems(warm_up: object) -> list[str]:
    document = {**BASE, "pools": [{"name": "general", "warmUp": warm_up}]}
    with pytest.raises(ConfigError) as caught:
        load_config_text(dump_yaml(document))
    return caught.value.problems


def test_off_by_default_with_documented_defaults() -> None:
    warm_up = load_config_text(dump_yaml(BASE)).pool("general").warm_up
    assert (warm_up.mode, warm_up.top, warm_up.images, warm_up.timeout,
            warm_up.priority_class_name) == ("off", 5, [], 600.0, None)


def test_a_list_and_a_timeout_are_read() -> None:
    document = {**BASE, "pools": [{"name": "general", "warmUp": {
        "mode": "list", "images": ["app:1"], "timeout": "2m", "priorityClassName": "low"}}]}
    warm_up = load_config_text(dump_yaml(document)).pool("general").warm_up
    assert (warm_up.images, warm_up.timeout, warm_up.priority_class_name) == (
        ["app:1"], 120.0, "low")


def test_refusals_name_the_field_and_value() -> None:
    assert problems({"mode": "all"}) == [
        "pools[0].warmUp.mode: 'all' is not one of 'off', 'top' or 'list'"]
    assert problems({"mode": "top", "top": 0}) == ["pools[0].warmUp.top: 0 is below 1"]
    assert problems({"mode": "top", "top": 21}) == ["pools[0].warmUp.top: 21 is above 20"]
    assert problems({"mode": "top", "timeout": 0}) == [
        "pools[0].warmUp.timeout: 0.0 is not above 0.0"]
    assert problems({"mode": "list"}) == [
        "pools[0].warmUp.images: empty with mode 'list'; name the images to pull"]
    assert problems({"mode": "top", "images": ["app:1"]}) == [
        "pools[0].warmUp.images: ['app:1'] with mode 'top', which chooses the images "
        "itself; set mode: list, or remove images"]
    assert problems({"mode": "list", "images": ["app 1"]})[0].startswith(
        "pools[0].warmUp.images[0]: 'app 1' is not of the form")


def test_the_example_warms_up_the_general_pool() -> None:
    example = Path(__file__).parents[2] / "examples" / "config.yaml"
    warm_up = load_config(example).pool("general").warm_up
    assert (warm_up.mode, warm_up.top, warm_up.timeout) == ("top", 5, 600.0)
