"""The controller refuses a configuration naming a power driver it does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from bamel.cli import main
from controller.config import ConfigHolder, render_config
from controller.metrics import ControllerMetrics
from controller.reload import ConfigReloader
from tests.controller.test_actuation import CFG

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


async def test_a_reload_with_an_unknown_driver_keeps_the_running_config() -> None:
    complaints: list[str] = []

    async def complain(message: str) -> None:
        complaints.append(message)

    metrics = ControllerMetrics()
    holder = ConfigHolder(CFG)
    reloader = ConfigReloader(holder, metrics=metrics)
    changed = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 0.7")
    assert not await reloader.offer(changed, origin="test", complain=complain)
    assert holder.current == CFG
    assert UNKNOWN in complaints[0]
    assert metrics.config_reloads.labels("invalid")._value.get() == 1
