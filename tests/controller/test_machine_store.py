"""The state file is written off the event loop, one write at a time, in the puts' order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from pathlib import Path

import pytest

from controller.config import SettingsError
from controller.machines import FileMachineStore, MachineRecord
from controller.planning import MachineState


class SlowDisk(FileMachineStore):
    """Each write blocks its thread for ``seconds``, as an fsync on a busy disk does."""

    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__(path)
        self.seconds = seconds
        self.writes: list[tuple[float, float, str, bool]] = []
        """(start, end, payload, on the loop's thread) per write."""
        self.loop_thread = threading.get_ident()

    def _write(self, payload: str) -> None:
        start = time.monotonic()
        time.sleep(self.seconds)
        super()._write(payload)
        self.writes.append((start, time.monotonic(), payload,
                            threading.get_ident() == self.loop_thread))


async def test_saves_leave_the_loop_and_keep_their_order(tmp_path: Path) -> None:
    store = SlowDisk(tmp_path / "state.json", seconds=0.05)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    first = asyncio.create_task(store.put("a", MachineRecord(state=MachineState.POWERING_ON)))
    await asyncio.sleep(0.01)  # the first write is under way in its thread
    first.cancel()  # its caller gives up; the write still finishes before the next
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await store.put("a", MachineRecord(state=MachineState.JOINING))
    await store.put("b", MachineRecord(state=MachineState.READY))
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
    assert [on_loop for *_, on_loop in store.writes] == [False, False, False]
    spans = [(start, end) for start, end, *_ in store.writes]
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    assert '"powering-on"' in store.writes[0][2] and '"joining"' in store.writes[1][2]
    assert ticks >= 10  # the loop ran while 150 ms of writes blocked their thread
    saved = FileMachineStore(tmp_path / "state.json").read()
    assert saved["a"].state is MachineState.JOINING and saved["b"].state is MachineState.READY


def test_an_unreadable_state_file_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(SettingsError, match=r"--state-file .*state\.json"):
        FileMachineStore(path).read()
