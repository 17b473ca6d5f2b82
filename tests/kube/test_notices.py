"""NotTriggerScaleUp: one Event per pod and reason, repeated at most every ten minutes."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.kube.notices import REASON, ScaleUpNotices


class Recorded:
    """Events as an EventRecorder would write them (a unit test's stand-in)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    async def record(self, obj: dict[str, Any], reason: str, message: str, *,
                     warning: bool = False) -> dict[str, Any]:
        self.events.append((obj["kind"], obj["metadata"]["name"], reason, message))
        return {}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_pod_gets_one_event_per_reason_and_another_only_after_ten_minutes() -> None:
    recorded, clock = Recorded(), Clock()
    pods = {"shop/big": {"metadata": {"name": "big", "namespace": "shop"}}}
    notices = ScaleUpNotices(recorded, pods=pods, clock=clock)  # type: ignore[arg-type]
    await notices.start()
    try:
        for _ in range(3):
            notices.note({"shop/big": "0/2 machines are available: 2 Insufficient cpu."})
        notices.note({"shop/gone": "a pod the informer no longer has"})
        clock.now = 599.0
        notices.note({"shop/big": "0/2 machines are available: 2 Insufficient cpu."})
        notices.note({"shop/big": "another reason"})
        clock.now = 600.0
        notices.note({"shop/big": "0/2 machines are available: 2 Insufficient cpu."})
        await asyncio.sleep(0.05)
    finally:
        await notices.close()
    assert recorded.events == [
        ("Pod", "big", REASON, "pod didn't trigger scale-up: 0/2 machines are available: "
                               "2 Insufficient cpu."),
        ("Pod", "big", REASON, "pod didn't trigger scale-up: another reason"),
        ("Pod", "big", REASON, "pod didn't trigger scale-up: 0/2 machines are available: "
                               "2 Insufficient cpu."),
    ]
