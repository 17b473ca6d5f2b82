"""The controller refuses a configuration naming a power driver it does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from bamel.cli import main
from controller.config import ConfigHolder, render_config
from controller.config.loading import dump_yaml
from controller.metrics import ControllerMetrics
from controller.reload import ConfigReloader
from tests.controller.test_actuation import CFG
from tests.power.fakes import FakeDriver

UNKNOWN = ("machines[0].power.on.driver: unknown driver 'fake'; "
           "known: command, ipmi, redfish, ssh, wol")
"""CFG's machines use the tests' ``fake`` driver, which production does not register."""


def test_the_controller_does_not_start_with_an_unknown_driver(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(render_config(CFG))
    code = main(["controller", "--config", str(path), "--kubeconfig", str(tmp_path / "none")])
    assert code == 2
    assert UNKNOWN in capsys.readouterr().err


class Complaints(list[str]):
    """What the reloader said about a refused configuration (as a ConfigMap Event)."""

    async def __call__(self, message: str) -> None:
        self.append(message)


async def test_a_reload_with_an_unknown_driver_keeps_the_running_config() -> None:
    complain = complaints = Complaints()
    metrics = ControllerMetrics()
    holder = ConfigHolder(CFG)
    reloader = ConfigReloader(holder, metrics=metrics)
    changed = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 0.7")
    assert not await reloader.offer(changed, origin="test", complain=complain)
    assert holder.current == CFG
    assert UNKNOWN in complaints[0]
    assert metrics.config_reloads.labels("invalid")._value.get() == 1


async def test_a_reload_with_a_settings_typo_keeps_the_running_config_and_says_why(
        fake_power_driver: type[FakeDriver]) -> None:
    complain = complaints = Complaints()
    metrics = ControllerMetrics()
    holder = ConfigHolder(CFG)
    reloader = ConfigReloader(holder, metrics=metrics)
    document = CFG.model_dump(by_alias=True, mode="json")
    document["machines"][0]["power"]["on"]["settings"] = {"stat": "on"}
    typo = dump_yaml(document)
    assert not await reloader.offer(typo, origin="test", complain=complain)
    assert holder.current == CFG
    assert complaints == [
        "configuration rejected, the previous one stays: invalid configuration:\n  "
        "machines[0].power.on.settings.stat: unknown key (value 'on'); known: state, delay"]
    assert metrics.config_reloads.labels("invalid")._value.get() == 1
