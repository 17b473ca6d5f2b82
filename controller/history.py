"""The pools' demand history on disk, so a restarted controller keeps the rhythm.

Sizing to demand (``controller/planning/forecast.py``) learns each pool's daily and
weekly profile and how wrong its forecasts have been; that takes a day to a week of
history, and a controller restarted without it would size like a fresh one (the
conservative margin) until it had learned them again. The history lives in the
planner's memory; this file keeps it beside the machine records of ``--state-file``.

It is written whole (temp file, fsync, rename, in a worker thread as the state file
is), at most every ``SAVE_EVERY`` seconds and once more on close: a crash loses at
most that much history, which costs a little margin, never a decision's safety. An
unreadable or foreign file is logged and ignored: the controller starts fresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from controller.machines import write_atomically
from controller.planning import PoolMemory
from controller.planning.forecast import DemandHistory

log = logging.getLogger(__name__)

SAVE_EVERY = 300.0
"""Seconds between two writes: five of the history's one-minute buckets."""
VERSION = 1


class HistoryFile:
    """Each pool's ``DemandHistory`` in one JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def beside(cls, state_file: str | Path) -> HistoryFile:
        """The history file that goes with a machine state file."""
        path = Path(state_file)
        return cls(path.with_name(f"{path.name}.demand"))

    def load(self) -> dict[str, DemandHistory]:
        """Every pool's history in the file (none when it is absent or unreadable)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("version") != VERSION:
                raise ValueError(f"version {raw.get('version')!r}, not {VERSION}")
            return {pool: DemandHistory.from_json(data) for pool, data in raw["pools"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("demand history %s unreadable, starting fresh: %s", self.path, error)
            return {}

    def memory(self) -> dict[str, PoolMemory]:
        """The planner's memory as the file leaves it: each pool's history alone."""
        return {pool: PoolMemory(demand=history) for pool, history in self.load().items()}

    async def save(self, memory: Mapping[str, PoolMemory]) -> None:
        """Write every pool's history, off the event loop."""
        payload = self._payload(memory)
        await asyncio.to_thread(self._write, payload)

    def save_now(self, memory: Mapping[str, PoolMemory]) -> None:
        """Write every pool's history on the calling thread (no event loop running)."""
        self._write(self._payload(memory))

    @staticmethod
    def _payload(memory: Mapping[str, PoolMemory]) -> str:
        pools = {pool: remembered.demand.to_json() for pool, remembered in memory.items()
                 if remembered.demand is not None}
        return json.dumps({"version": VERSION, "pools": pools})

    def _write(self, payload: str) -> None:
        write_atomically(self.path, payload, prefix=".demand-")
