"""One holder of the running configuration: a reload reaches every subscriber once."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import AutoscalerConfig, ConfigHolder, load_config_text, render_config
from controller.kube.pending import PendingTracker
from controller.metrics import ControllerMetrics
from controller.reload import ConfigReloader, FileWatcher
from controller.triggers import CrossingDetector
from tests.controller.test_actuation import CFG, Rig
from tests.controller.test_service_parts import sample

RAISED = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 0.7")
INVALID = render_config(CFG).replace("levelHigh: 0.6", "levelHigh: 7")

pytestmark = pytest.mark.usefixtures("fake_power_driver")  # CFG's machines name it


async def test_subscribers_hear_once_per_applied_reload_and_never_of_an_invalid_one(
        tmp_path: Path) -> None:
    holder = ConfigHolder(CFG)
    heard: list[tuple[str, AutoscalerConfig, AutoscalerConfig]] = []
    holder.subscribe(lambda config: heard.append(("first", config, holder.current)))
    holder.subscribe(lambda config: heard.append(("second", config, holder.current)))
    path = tmp_path / "config.yaml"
    watcher = FileWatcher(path, ConfigReloader(holder, metrics=ControllerMetrics()))
    for text in (render_config(CFG), INVALID, RAISED, RAISED, INVALID):
        path.write_text(text)
        await watcher.check()
    raised = load_config_text(RAISED)
    assert heard == [("first", raised, raised), ("second", raised, raised)]
    assert holder.current == raised


async def test_every_component_follows_the_holder() -> None:
    rig = Rig(CFG)
    tracker = PendingTracker(CFG.pools)
    detector = CrossingDetector(CFG)
    holder = ConfigHolder(CFG)
    for subscriber in (rig.actuator.reconfigure, rig.reactor.reconfigure,
                       detector.reconfigure, tracker.reconfigure):
        holder.subscribe(subscriber)
    detector.crossed(sample(cpu=0.65))
    holder.replace(load_config_text(RAISED))
    assert rig.actuator.config is holder.current and rig.reactor.config is holder.current
    assert rig.reactor.snapshot().config is holder.current
    assert tracker.pools == list(holder.current.pools)
    assert detector.crossed(sample(cpu=0.65))  # compared afresh against the new thresholds


async def test_a_file_that_is_not_text_is_refused_like_an_unreadable_one(
        tmp_path: Path) -> None:
    holder = ConfigHolder(CFG)
    heard: list[AutoscalerConfig] = []
    holder.subscribe(heard.append)
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe not UTF-8")
    await FileWatcher(path, ConfigReloader(holder, metrics=ControllerMetrics())).check()
    assert heard == [] and holder.current is CFG
