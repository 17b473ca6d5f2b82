"""Quantities and durations parse as kubectl users expect."""

import pytest

from controller.config.units import format_duration, parse_duration, parse_quantity


@pytest.mark.parametrize(("text", "expected"), [
    ("16Gi", 16 * 2**30), ("500m", 0.5), ("2", 2.0), ("10G", 10e9), ("1.5k", 1500.0),
    ("1e3", 1000.0), ("128Mi", 128 * 2**20), (4, 4.0), (0.25, 0.25),
])
def test_quantities_parse_in_base_units(text: object, expected: float) -> None:
    assert parse_quantity(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["16GB", "lots", "", "Gi", True, None, [1]])
def test_bad_quantities_name_the_value(text: object) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("2m", 120.0), ("30s", 30.0), ("1h30m", 5400.0), ("500ms", 0.5), ("90", 90.0), (45, 45.0),
])
def test_durations_parse_in_seconds(text: object, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["2 minutes", "m2", "1x", "", "1h 30m", False])
def test_bad_durations_are_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_render_back() -> None:
    assert format_duration(150) == "2m30s"
    assert format_duration(3600) == "1h"
    assert format_duration(0) == "0s"
