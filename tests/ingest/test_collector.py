"""The collector's pace for a controller process: set, and undoable."""

from __future__ import annotations

import gc

from controller.ingest.collector import THRESHOLDS, pace_collector


def test_pace_is_set_and_the_previous_one_returned() -> None:
    before = gc.get_threshold()
    try:
        assert pace_collector() == before
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.set_threshold(*before)

