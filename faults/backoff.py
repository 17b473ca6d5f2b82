"""How long to wait before trying again: exponential growth to a ceiling, optional jitter.

One rule for every retry loop (the agent's reconnects, the informer's watches, the
drain's refused evictions, the planner's failed power-ons), so a change to it is
made once. It is pure: the delay is a function of the attempt number, and the
jitter's random draw comes from an injected ``random.Random``, so tests and the
simulator see exact, repeatable numbers.

Neither ``backoff`` nor ``tenacity`` from PyPI fits: both wrap a call in a retry
decorator, while the planner needs the delay of the n-th failure recorded in a
machine's status (no call to wrap, and no process that lived through the earlier
failures), and the agent, which ships in its own small image, would gain a
dependency for six lines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def exponential(attempt: int, *, base: float, ceiling: float, factor: float = 2.0) -> float:
    """``base * factor**attempt``, at most ``ceiling``; attempt 0 waits ``base``."""
    if attempt < 0:
        raise ValueError(f"attempt must be ≥ 0, got {attempt}")
    try:
        grown = base * factor**attempt
    except OverflowError:  # thousands of failures: long past the ceiling
        return float(ceiling)
    return float(min(ceiling, grown))


def equal_jitter(delay: float, draw: float) -> float:
    """Half of ``delay`` fixed, the other half scaled by ``draw`` in [0, 1).

    The fixed half keeps a fleet that lost its peer from hammering it when it
    restarts; the random half spreads the fleet out.
    """
    half = delay / 2
    return half + half * draw


@dataclass
class Backoff:
    """The delays of consecutive failures of one loop; :meth:`reset` after a success."""

    base_s: float = 0.5
    """Seconds before the first retry."""
    cap_s: float = 30.0
    """The longest delay, in seconds, however many failures came before."""
    factor: float = 2.0
    jitter: bool = False
    """Equal jitter (see :func:`equal_jitter`): for loops that many processes run at once."""
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0
    """Failures since the last reset."""

    def next_delay(self) -> float:
        """The delay before the next attempt; each call moves one step up to the cap."""
        delay = exponential(self.attempt, base=self.base_s, ceiling=self.cap_s,
                            factor=self.factor)
        self.attempt += 1
        return equal_jitter(delay, self.rng.random()) if self.jitter else delay

    def reset(self) -> None:
        """Start again from the base delay (after a success)."""
        self.attempt = 0
