"""Policies the simulator compares, by name: ours drives the real planner.

A policy sees the world at its own scan interval and returns decisions; the world
applies them. ``bamel`` builds the same Snapshot the controller builds and calls
``controller.planning.Planner``, so no decision logic is copied here. The baselines
(``baselines.py``) reproduce other autoscalers' rules and are not ours to tune.

``FACTORIES`` is the one table from a policy's name to how it is built: ``bamel
simulate``, the benchmarks and the tests all choose policies through it, so a new
policy is added in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from controller.config import AutoscalerConfig
from controller.planning import ActionKind, Planner, PoolMemory, PoolSignal, Snapshot
from simulation.baselines import LoadAverage, PendingOnly, Threshold
from simulation.world import Decisions, Observation, World


class Policy(Protocol):
    """Decides at every scan; implementation required for all three members."""

    name: str
    interval: float
    """Seconds between scans (and simulation steps)."""

    def decide(self, world: World, observation: Observation) -> Decisions:
        """What to power on, off or abort now; must not change the world."""


class AlwaysOn:
    """Every machine on, all the time: the energy reference."""

    name = "always-on"
    interval = 30.0

    def __init__(self, *, interval: float | None = None) -> None:
        if interval is not None:
            self.interval = interval

    def decide(self, world: World, observation: Observation) -> Decisions:
        return Decisions()


class Bamel:
    """The autoscaler itself: a Snapshot per scan into the real Planner."""

    name = "bamel"
    interval = 30.0

    def __init__(self, config: AutoscalerConfig, *, interval: float | None = None) -> None:
        self.config = config
        if interval is not None:
            self.interval = interval
        # The simulated scheduler places work the instant capacity is Ready, so no
        # pending request outlives a join: nothing to set aside after one.
        self.planner = Planner(config, join_settle=0.0)
        self.memory: dict[str, PoolMemory] = {}
        self.index = {name: number for number, name in
                      enumerate(machine.name for machine in config.machines)}

    def decide(self, world: World, observation: Observation) -> Decisions:
        signals = {
            pool: PoolSignal(levels=observation.levels[number],
                             rates=observation.rates[number],
                             pending=observation.pending[number],
                             pending_pods=int(observation.waiting(number)))
            for number, pool in enumerate(world.fleet.pools)
        }
        snapshot = Snapshot(now=observation.now, config=self.config, machines=world.views(),
                            signals=signals, memory=self.memory)
        result = self.planner.plan(snapshot)
        self.memory = result.memory
        decisions = Decisions()
        chosen = {ActionKind.POWER_ON: decisions.power_on,
                  ActionKind.POWER_OFF: decisions.power_off,
                  ActionKind.ABORT_BOOT: decisions.abort}
        for action in result.actions:
            chosen[action.kind].append(self.index[action.machine])
        return decisions


PolicyFactory = Callable[[AutoscalerConfig, float | None], Policy]
"""(the configuration the planner runs under, a scan interval or None for the
policy's own) → a fresh policy. Baselines read the world only, not the config."""

FACTORIES: Mapping[str, PolicyFactory] = MappingProxyType({
    "bamel": lambda config, interval: Bamel(config, interval=interval),
    "always-on": lambda _config, interval: AlwaysOn(interval=interval),
    "pending-only": lambda _config, interval: PendingOnly(interval=interval),
    "threshold": lambda _config, interval: Threshold(interval=interval),
    "loadavg": lambda _config, interval: LoadAverage(interval=interval),
})
"""Every policy by name, in the order a report lists them."""

POLICIES: tuple[str, ...] = tuple(FACTORIES)


def make_policy(name: str, config: AutoscalerConfig, *, interval: float | None = None) -> Policy:
    """The policy called name; ``interval`` overrides its scan interval."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return factory(config, interval)
