"""The running configuration: one holder that every component reads or subscribes to.

A reload must reach the planner, the actuator, the crossing detector, the pending
tracker and the objects kept in the cluster, and reach them all or none: a part
left on the old document would plan with one pool list and act with another. So
there is one place that holds the configuration in force. The reloader replaces it
only with a document it has validated in full; a component that needs the value at
the moment it acts reads ``current``, and one that derives state from it (indexes,
thresholds) subscribes and is called once per applied change, in subscription order.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.config.schema import AutoscalerConfig

Subscriber = Callable[[AutoscalerConfig], None]


class ConfigHolder:
    """``current`` is the configuration in force; ``replace`` tells every subscriber."""

    def __init__(self, config: AutoscalerConfig) -> None:
        self._current = config
        self._subscribers: list[Subscriber] = []

    @property
    def current(self) -> AutoscalerConfig:
        return self._current

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call subscriber(config) after every later replace; it must not block.

        An exception from a subscriber is a bug: it reaches whoever replaced the
        configuration (a supervised watcher, which then stops the controller).
        """
        self._subscribers.append(subscriber)

    def replace(self, config: AutoscalerConfig) -> None:
        """Put a validated configuration in force and tell every subscriber."""
        self._current = config
        for subscriber in self._subscribers:
            subscriber(config)
