"""The fleet file: shapes expand into machines; errors name the field path."""

from __future__ import annotations

import pytest

from controller.config.loading import dump_yaml
from simulation import FleetError, load_fleet, load_fleet_text
from tests.simulation.builders import fleet, fleet_document


def test_shapes_expand_into_machines_and_a_planner_config() -> None:
    built = fleet(count=12)
    assert len(built) == 12
    assert built.names[0] == "node-00" and built.names[-1] == "node-11"
    assert built.total_capacity[0] == 96
    assert built.config.machines[3].boot_time == 120
    assert built.config.pools[0].scale_down.unneeded_time == 120


def test_errors_name_the_field_path() -> None:
    document = fleet_document()
    shape = document["shapes"][0]
    shape.update(count=0, pool="nowhere", busyWatts=50, bootTime={"min": "5m", "max": "1m"})
    with pytest.raises(FleetError) as caught:
        load_fleet_text(dump_yaml(document))
    assert caught.value.problems == ["shapes[0].count: 0 is below 1"]
    shape["count"] = 2
    with pytest.raises(FleetError) as caught:
        load_fleet_text(dump_yaml(document))
    assert "shapes[0].pool: 'nowhere' is not a pool (general)" in caught.value.problems
    assert "shapes[0].busyWatts: 50 is below idleWatts 100" in caught.value.problems
    assert "shapes[0].bootTime.min: 300s is above max 60s" in caught.value.problems


def test_unknown_fields_and_pool_settings_are_checked() -> None:
    document = fleet_document()
    document["shapes"][0]["idlewatts"] = 3
    document["pools"][0]["scaleUp"]["batch"] = 0
    with pytest.raises(FleetError) as caught:
        load_fleet_text(dump_yaml(document))
    assert "pools[0].scaleUp.batch: 0 is below 1" in caught.value.problems
    assert "shapes[0].idlewatts: unknown field (value 3)" in caught.value.problems


def test_the_example_fleet_loads() -> None:
    example = load_fleet("examples/fleet.yaml")
    assert len(example) == 1000
