"""The configuration rejects what is wrong with the field path and value."""

from pathlib import Path

import pytest

from bamel.cli import main
from controller.config import ConfigError, load_config, load_config_text, render_config
from controller.config.loading import dump_yaml, parse_yaml
from controller.power import DRIVERS

EXAMPLE = Path(__file__).parents[2] / "examples" / "config.yaml"


def _example() -> dict:
    document = parse_yaml(EXAMPLE.read_text())
    assert isinstance(document, dict)
    return document


def _problems(document: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(dump_yaml(document))
    return caught.value.problems


def test_example_loads_with_parsed_units() -> None:
    config = load_config(EXAMPLE)
    machine = config.machines[0]
    assert machine.capacity.memory == 128 * 2**30
    assert machine.boot_time == 180.0
    assert config.pool("general").scale_down.drain_timeout == 300.0
    assert config.scoring.weights.for_resource("gpu") == (2.0, 0.25)
    assert config.scoring.weights.for_resource("cpu") == (1.0, 0.25)


def test_negative_max_nodes_names_path_and_value() -> None:
    document = _example()
    document["pools"][1]["limits"]["maxNodes"] = -2
    assert _problems(document) == ["pools[1].limits.maxNodes: -2 is below 0"]


def test_unknown_key_is_rejected() -> None:
    document = _example()
    document["pools"][0]["scaleUp"]["maxPerMinutes"] = 3
    assert _problems(document) == ["pools[0].scaleUp.maxPerMinutes: unknown field (value 3)"]


def test_bad_quantity_and_duration_name_the_value() -> None:
    document = _example()
    document["machines"][2]["capacity"]["memory"] = "32GB"
    document["machines"][2]["bootTime"] = "soon"
    problems = _problems(document)
    assert any(p.startswith("machines[2].capacity.memory: '32GB' is not a quantity")
               for p in problems)
    assert any(p.startswith("machines[2].bootTime: 'soon' is not a duration") for p in problems)


def test_cross_section_errors() -> None:
    document = _example()
    document["machines"][1]["pool"] = "storage"
    document["machines"][3]["mac"] = document["machines"][0]["mac"]
    document["pools"][0]["limits"]["minNodes"] = 9
    problems = _problems(document)
    assert "machines[1].pool: 'storage' is not a pool (general, gpu)" in problems
    assert "machines[3].mac: '52:54:00:00:00:01' repeats machines[0]" in problems
    assert "pools[0].limits.minNodes: 9 is above maxNodes 6" in problems


def test_wrong_kind_and_missing_fields() -> None:
    problems = _problems({"apiVersion": "bamel.io/v2", "kind": "AutoscalerConfig"})
    assert "apiVersion: 'bamel.io/v2' is not one of 'bamel.io/v1alpha1'" in problems
    assert "pools: is required" in problems


def test_threshold_order_is_checked() -> None:
    document = _example()
    document["scoring"]["thresholds"]["resources"] = {"memory": {"levelLow": 0.9}}
    assert _problems(document) == [
        "scoring.thresholds.resources.memory.levelLow: 0.9 is not below levelHigh 0.6"
    ]


def test_yaml_syntax_error_is_reported() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_text("pools: [")


def test_render_round_trips() -> None:
    config = load_config(EXAMPLE)
    assert load_config_text(render_config(config)) == config


def test_cli_check_prints_effective_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(EXAMPLE)]) == 0
    assert "unneededTime: 600.0" in capsys.readouterr().out


def test_cli_check_fails_with_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _example()
    document["pools"][1]["limits"]["maxNodes"] = -2
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump_yaml(document))
    assert main(["config", "check", str(bad)]) == 1
    assert f"{bad}: pools[1].limits.maxNodes: -2 is below 0" in capsys.readouterr().err


def test_an_unknown_power_driver_names_its_field_path() -> None:
    document = _example()
    document["machines"][2]["power"]["off"]["driver"] = "fake"
    with pytest.raises(ConfigError) as caught:
        load_config_text(dump_yaml(document), drivers=DRIVERS)
    assert caught.value.problems == [
        "machines[2].power.off.driver: unknown driver 'fake'; "
        "known: command, ipmi, redfish, ssh, wol"]
    assert load_config_text(dump_yaml(document)).machines[2].power.off.driver == "fake"


def test_cli_check_refuses_the_test_only_fake_driver(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _example()
    document["machines"][0]["power"]["on"]["driver"] = "fake"
    fake = tmp_path / "fake.yaml"
    fake.write_text(dump_yaml(document))
    assert main(["config", "check", str(fake)]) == 1
    assert (f"{fake}: machines[0].power.on.driver: unknown driver 'fake'"
            in capsys.readouterr().err)
