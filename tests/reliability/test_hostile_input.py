"""§5 of docs/reliability.md: generated hostile frames against the ingest.

Every frame goes through ``IngestServer.accept``, the handler a connection calls for
each message: the wire decoder, the node binding, the replay check of the store,
the crossing detector and the reactor's hook. None may raise; each frame must get
the verdict its generator gave it, counted by reason in the stats and in the
``bamel_controller_ingest_rejects`` metric.

``make test`` sends a few thousand frames; ``make fuzz`` sends 100,000
(``BAMEL_FUZZ_FRAMES``) and prints the figures docs/reliability.md quotes.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.ingest import IngestServer, PressureStore, TokenAuthenticator
from controller.metrics import ControllerMetrics
from controller.triggers import CrossingDetector
from tests.planning.builders import config
from tests.reliability.hostile import OWN_NODE, Frame, batch
from wire import PressureSample

FRAMES = int(os.environ.get("BAMEL_FUZZ_FRAMES", "2000"))
BATCH = 50
"""Frames per generated example: one connection's worth, with replays among them."""


def ingest() -> tuple[IngestServer, list[PressureSample]]:
    taken: list[PressureSample] = []
    detector = CrossingDetector(config())
    server = IngestServer(store=PressureStore(capacity=1),
                          authenticator=TokenAuthenticator({OWN_NODE: "token"}),
                          metrics=ControllerMetrics(),
                          on_sample=lambda sample, _: taken.append(sample),
                          crossed=detector.crossed, clock=lambda: 1000.0)
    return server, taken


def rejects_metric(metrics: ControllerMetrics) -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in metrics.registry.collect():
        if family.name == "bamel_controller_ingest_rejects":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["reason"]] = int(sample.value)
    return counts


def test_every_hostile_frame_is_rejected_and_counted_by_its_reason() -> None:
    totals: Counter[str] = Counter()
    examples = max(1, FRAMES // BATCH)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frames=batch(size=BATCH))
    def one_connection(frames: list[Frame]) -> None:
        server, taken = ingest()
        verdicts = Counter(reason or "accepted" for _, reason in frames)
        for data, reason in frames:
            assert server.accept(data, OWN_NODE) == (None if reason == "stale" else reason)
        assert len(taken) == server.stats.frames == verdicts.pop("accepted", 0)
        assert server.stats.rejected == verdicts
        assert rejects_metric(server.metrics) == verdicts
        assert all(sample.node == OWN_NODE for sample in taken)
        totals.update(reason or "accepted" for _, reason in frames)

    one_connection()
    sent = sum(totals.values())
    print(f"\ningest fuzz: {sent} frames, {totals['accepted']} accepted, rejected by reason: "
          + ", ".join(f"{reason} {count}" for reason, count in sorted(totals.items())
                      if reason != "accepted"))
    assert sent >= examples * BATCH
    assert set(totals) == {"accepted", "stale", "forged", "schema", "version", "malformed",
                           "oversized"}


@given(st.binary(max_size=256) | st.text(max_size=256))
@settings(max_examples=500, deadline=None, database=None)
def test_arbitrary_bytes_never_raise(data: str | bytes) -> None:
    server, _ = ingest()
    reason = server.accept(data, OWN_NODE)
    assert reason in {"malformed", "version", "schema"}
    assert sum(server.stats.rejected.values()) == 1
