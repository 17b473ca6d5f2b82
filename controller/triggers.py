"""Which agent samples should wake the planner: threshold crossings, not every frame.

At 10,000 agents a planning pass per frame would be 10,000 passes a second for
nothing: almost every frame says "about the same as before". A sample matters
when it moves its node into another band (below ``levelLow``, between, above
``levelHigh``) or its rate into another sign (falling, steady, rising by the
``rate`` threshold) for some resource. Any such change can change a pool's
decision, so it wakes the reactor; everything else is only stored, and the next
pass reads it from the store.
"""

from __future__ import annotations

from controller.config import AutoscalerConfig
from wire import PRESSURE_RESOURCES, PressureSample

Band = tuple[int, ...]


class CrossingDetector:
    """Remembers each node's band per resource; says when a sample changes one."""

    def __init__(self, config: AutoscalerConfig) -> None:
        self._bands: dict[str, Band] = {}
        self.reconfigure(config)

    def reconfigure(self, config: AutoscalerConfig) -> None:
        """New thresholds: every node's next sample is compared afresh."""
        thresholds = [config.scoring.thresholds.for_resource(r) for r in PRESSURE_RESOURCES]
        self._low = [t.level_low or 0.0 for t in thresholds]
        self._high = [t.level_high or 0.0 for t in thresholds]
        self._rate = [t.rate or 0.0 for t in thresholds]
        self._bands.clear()

    def crossed(self, sample: PressureSample) -> bool:
        """True when sample puts its node in another band than its previous one."""
        band = self.band(sample)
        previous = self._bands.get(sample.node)
        self._bands[sample.node] = band
        return band != previous

    def band(self, sample: PressureSample) -> Band:
        """Per resource: level band (0 low, 1 between, 2 high) and rate sign, flattened."""
        levels, rates = sample.levels, sample.rates
        out: list[int] = []
        for index, resource in enumerate(PRESSURE_RESOURCES):
            level, rate = levels.get(resource, 0.0), rates.get(resource, 0.0)
            out.append(0 if level < self._low[index] else 2 if level > self._high[index] else 1)
            out.append(-1 if rate < -self._rate[index] else 1 if rate > self._rate[index] else 0)
        return tuple(out)

    def forget(self, node: str) -> None:
        """A node gone (``controller.ingest.retention``): its next sample counts as new."""
        self._bands.pop(node, None)

    def __len__(self) -> int:
        """Nodes whose band is remembered."""
        return len(self._bands)
