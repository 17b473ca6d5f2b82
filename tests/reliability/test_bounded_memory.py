"""§5 of docs/reliability.md: nodes that leave are forgotten, so memory follows the fleet.

Short-lived nodes stream through the ingest handler, each for a few samples, then
fall silent for good; the retention sweep runs on the same (injected) clock. The
store's rows, its learned MACs and sources, and the crossing detector's bands must
stay at what the nodes alive at once need, however many came and went.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.ingest import NodeRetention, PressureStore, TokenAuthenticator
from controller.ingest.server import IngestServer
from controller.metrics import ControllerMetrics
from controller.triggers import CrossingDetector
from tests.planning.builders import config
from wire import PressureSample, encode_sample

FORGET_AFTER = 600.0
NODES = 10_000
ALIVE = 50
"""Nodes streaming at any moment: each lives 60 s, a new one starts every 1.2 s."""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frame(node: str, seq: int, cpu: float) -> str:
    return encode_sample(PressureSample(
        node=node, boot_id=f"boot-{node}", macs=("52:54:00:00:00:01",), timestamp=seq,
        seq=seq, interval=1.0, levels={"cpu": cpu}, rates={}, sources={"cpu": "psi"}))


def test_many_short_lived_nodes_leave_nothing_behind() -> None:
    clock = Clock()
    store, detector = PressureStore(), CrossingDetector(config())
    server = IngestServer(store=store, authenticator=TokenAuthenticator({}),
                          metrics=ControllerMetrics(), crossed=detector.crossed,
                          on_sample=lambda *_: None, clock=clock)
    retention = NodeRetention(store, forget_after=FORGET_AFTER, on_forget=detector.forget,
                              clock=clock)
    lifetime, start_every = 60.0, 60.0 / ALIVE
    peak = 0
    for number in range(NODES):
        clock.now = number * start_every
        node = f"node-{number}"
        for seq in range(1, 4):  # three samples over its short life
            assert server.accept(frame(node, seq, cpu=0.3 * seq), node) is None
        clock.now += lifetime
        if number % 100 == 0:
            retention.sweep()
        peak = max(peak, len(store))
    held_at_most = (FORGET_AFTER + lifetime) / start_every + 100  # + one sweep period
    print(f"\nretention: {NODES} short-lived nodes, at most {peak} held, "
          f"{retention.forgotten} forgotten, {store.capacity} rows allocated")
    assert peak <= held_at_most
    assert store.capacity <= 2 * held_at_most
    assert retention.forgotten >= NODES - held_at_most
    clock.now += FORGET_AFTER + 1
    retention.sweep()
    assert len(store) == len(detector) == len(store.macs) == len(store.sources) == 0
    assert retention.forgotten == NODES
    assert server.stats.frames == 3 * NODES


def test_forgetting_keeps_every_other_row_intact() -> None:
    store = PressureStore(capacity=2)
    for number, received in enumerate([10.0, 500.0, 20.0, 600.0, 30.0]):
        sample = PressureSample(node=f"n{number}", boot_id="b", macs=(), timestamp=1.0,
                                seq=number + 1, interval=1.0, levels={"cpu": number / 10},
                                rates={"memory": -number / 10}, sources={})
        assert store.update(sample, now=received)
    assert sorted(store.forget_silent(now=700.0, after=690.0)) == []
    assert sorted(store.forget_silent(now=700.0, after=600.0)) == ["n0", "n2", "n4"]
    assert sorted(store.index) == ["n1", "n3"]
    assert store.node_levels("n1") == {"cpu": 0.1, "memory": 0.0, "network": 0.0}
    assert store.node_levels("n3") == {"cpu": 0.3, "memory": 0.0, "network": 0.0}
    assert store.aggregate(["n1"], now=500.0).rates[1] == pytest.approx(-0.1)
    assert store.aggregate(["n3"], now=600.0).rates[1] == pytest.approx(-0.3)
    assert store.aggregate(["n0"], now=600.0).nodes == 0
    late = PressureSample(node="n3", boot_id="b", macs=(), timestamp=1.0, seq=4,
                          interval=1.0, levels={}, rates={}, sources={})
    assert not store.update(late, now=700.0), "the moved row kept its sequence number"
    assert store.update(late.__class__(**{**late.__dict__, "node": "n0"}), now=700.0), \
        "a forgotten node starts afresh"


def test_a_forgotten_node_crosses_again_on_its_next_sample() -> None:
    detector = CrossingDetector(config())
    sample = PressureSample(node="n", boot_id="b", macs=(), timestamp=1.0, seq=1,
                            interval=1.0, levels={"cpu": 0.5}, rates={}, sources={})
    assert detector.crossed(sample)
    assert not detector.crossed(sample)
    detector.forget("n")
    assert len(detector) == 0
    assert detector.crossed(sample)


async def test_the_sweep_runs_every_tenth_of_the_wait() -> None:
    store = PressureStore()
    clock = Clock()
    sample = PressureSample(node="n", boot_id="b", macs=(), timestamp=1.0, seq=1,
                            interval=1.0, levels={}, rates={}, sources={})
    store.update(sample, now=0.0)
    forgotten: list[str] = []
    swept = asyncio.Event()

    def forget(node: str) -> None:
        forgotten.append(node)
        swept.set()

    retention = NodeRetention(store, forget_after=0.5, on_forget=forget, clock=clock)
    assert retention.every == pytest.approx(0.05)
    assert NodeRetention(store, forget_after=3600, on_forget=print, clock=clock).every == 60
    clock.now = 0.6
    task = asyncio.create_task(retention.run())
    try:
        async with asyncio.timeout(2):
            await swept.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert forgotten == ["n"]
    with pytest.raises(ValueError, match="forget_after"):
        NodeRetention(store, forget_after=0, on_forget=print, clock=clock)
