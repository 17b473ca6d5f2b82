"""The pools' demand history outlives the controller: written beside the state file,
read back by the next reactor."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from controller.config import AutoscalerConfig
from controller.history import SAVE_EVERY, HistoryFile
from controller.reactor import Reactor
from tests.controller.test_actuation import Clock
from tests.controller.test_reactor_wake import base_parts
from tests.planning.builders import config


def sized() -> AutoscalerConfig:
    return config(machines={"base": "cpu-heavy", "spare": "cpu-heavy"},
                  scoring={"sizing": {"enabled": True}})


def reactor(cfg: AutoscalerConfig, clock: Clock, history: HistoryFile) -> Reactor:
    """A reactor whose "base" is Ready at cpu level 0.3, keeping its history in history."""
    parts = base_parts(cfg, clock, levels=(0.3, 0.0, 0.0), rates=(0.0, 0.0, 0.0))
    return Reactor(config=cfg, actuator=parts.actuator, records=parts.actuator.records,
                   pressure=parts.pressure, metrics=parts.metrics, clock=clock,
                   wall_clock=clock, history=history)


async def test_a_restarted_reactor_keeps_the_demand_history(tmp_path: Path) -> None:
    history = HistoryFile.beside(tmp_path / "state.json")
    clock = Clock(now=86_400.0)
    first = reactor(sized(), clock, history)
    for _ in range(12):  # six minutes of passes, 30 s apart
        first.plan_once()
        clock.now += 30.0
    await first.close()
    kept = first.memory["general"].demand
    assert kept is not None and kept.bucket > (86_400 // 60)

    second = reactor(sized(), clock, history)
    again = second.memory["general"].demand
    assert again is not None
    assert (again.bucket, again.errors_seen) == (kept.bucket, kept.errors_seen)
    np.testing.assert_array_equal(again.peaks, kept.peaks)
    np.testing.assert_array_equal(again.stamps, kept.stamps)
    np.testing.assert_allclose(again.peak[0], 64 * 0.3)  # cpu demand: 64 cores at level 0.3


async def test_the_history_is_written_while_running_not_only_at_close(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "demand")
    clock = Clock(now=86_400.0)
    running = reactor(sized(), clock, history)
    running.plan_once()
    assert not history.path.exists()  # the first write waits SAVE_EVERY
    clock.now += SAVE_EVERY
    running.plan_once()
    assert running._saving is not None
    await running._saving
    assert history.load()["general"].bucket == int(clock.now // 60)


def test_an_unreadable_history_starts_fresh(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "demand"
    path.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert HistoryFile(path).memory() == {}
    assert "unreadable, starting fresh" in caplog.text


async def test_no_file_is_written_while_no_pool_is_sized_to_demand(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "demand")
    clock = Clock(now=86_400.0)
    banded = reactor(config(machines={"base": "cpu-heavy"}), clock, history)
    banded.plan_once()
    clock.now += SAVE_EVERY
    banded.plan_once()
    await banded.close()
    assert not history.path.exists()
