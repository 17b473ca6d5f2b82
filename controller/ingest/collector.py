"""The garbage collector's pace for a process holding thousands of agent connections.

Every agent stream keeps about 80 objects alive for as long as it is connected
(transport, protocol, request, websocket reader, task, buffers): at 10,000 agents
800,000 objects the cyclic collector must walk on each full collection, 0.3 to
1.7 s on one core during which no frame is read. CPython's default pace
(a young collection every 700 net allocations) promotes the short-lived objects of
whatever is in flight at that moment, and the promotions soon add up to the quarter
of the old generation that starts a full collection. After a burst of connections
(a controller restart: every agent reconnects at once) that measured as full
collections back to back for about 20 s, each pause piling up frames that the next
burst of promotions came from; ingest fell behind at 10,000 agents.

A young collection every 50,000 net allocations lets the frames' objects die by
reference counting before any collection sees them, so only what really lives on
reaches the old generation, and a full collection waits for ten middle-generation
collections, 10 million net allocations: after the same burst there was none.
Cyclic garbage still goes, only in larger batches (at most about 50,000 objects,
some megabytes, wait for the next young collection).
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)
"""``gc.set_threshold`` arguments: young every 50,000 net allocations, middle every 20
young collections, full every 10 middle ones (and the quarter rule)."""


def pace_collector() -> tuple[int, int, int]:
    """Set the collector's pace for a controller process; return the previous one."""
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return previous
