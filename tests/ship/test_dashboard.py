"""The Grafana dashboard is well formed: Grafana's own SDK reads and writes it back unchanged.

Grafana is not obtainable here, so its foundation SDK (generated from Grafana's
schemas) stands in for it; tests/ship/test_observability.py runs every query.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.ship.shipped import load_dashboard, panels, queries

GRID_COLUMNS = 24


def round_trip(document: dict[str, Any]) -> dict[str, Any]:
    register_default_plugins()
    result: dict[str, Any] = json.loads(json.dumps(Dashboard.from_json(document),
                                                   cls=JSONEncoder))
    return result


def test_round_trips_through_the_foundation_sdk_without_losing_a_field() -> None:
    dashboard = load_dashboard()
    assert round_trip(dashboard) == dashboard


def test_the_round_trip_does_drop_what_grafana_does_not_know() -> None:
    """The check above can fail: a misspelt field does not survive the SDK."""
    dashboard = load_dashboard()
    misspelt = copy.deepcopy(dashboard)
    misspelt["panels"][1]["fieldconfig"] = misspelt["panels"][1].pop("fieldConfig")
    assert round_trip(misspelt) != misspelt


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    every = list(panels(load_dashboard()))
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_query_uses_the_chosen_prometheus_and_known_variables() -> None:
    dashboard = load_dashboard()
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "pool", "node", "resource"}
    for panel in panels(dashboard):
        if panel.get("repeat"):
            assert panel["repeat"] in variables
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {
                "__rate_interval", "__range", "__range_s"}
            assert used <= variables, (panel["title"], used)


@pytest.mark.parametrize(("topic", "metric"), [
    ("pool pressure level", "bamel_controller_pool_pressure_level"),
    ("pool pressure rate", "bamel_controller_pool_pressure_rate"),
    ("node pressure level", "bamel_agent_pressure_level"),
    ("node pressure rate", "bamel_agent_pressure_rate"),
    ("decisions", "bamel_controller_decisions_total"),
    ("power actions by driver and result", "bamel_controller_power_actions_total"),
    ("machine states", "bamel_controller_machine_state"),
    ("energy", "bamel_controller_fleet_watts"),
    ("energy used", "bamel_controller_pool_energy_joules_total"),
    ("energy saved", "bamel_controller_pool_always_on_energy_joules_total"),
    ("energy saved", "bamel_controller_pool_energy_saved_joules_total"),
    ("energy by source", "bamel_controller_machine_energy_joules_total"),
])
def test_every_topic_of_the_issue_has_a_panel(topic: str, metric: str) -> None:
    exprs = [q.expr for q in queries(load_dashboard(), range_s=3600, rate_interval="1m")]
    assert any(metric in expr for expr in exprs), topic


def test_pressure_panels_repeat_for_cpu_memory_and_network() -> None:
    found = queries(load_dashboard(), range_s=3600, rate_interval="1m")
    pool_levels = [q for q in found if "pool_pressure_level" in q.expr]
    assert [q.panel for q in pool_levels] == [
        "Pool pressure level: cpu", "Pool pressure level: memory",
        "Pool pressure level: network"]
