"""Policies the simulator compares, by name: ours drives the real planner.

A policy sees the world at its own scan interval and returns decisions; the world
applies them. ``bamel`` builds the same Snapshot the controller builds and calls
``controller.planning.Planner``, so no decision logic is copied here. The baselines
(``baselines.py``) reproduce other autoscalers' rules and are not ours to tune.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from controller.config import AutoscalerConfig
from controller.planning import ActionKind, Planner, PoolMemory, PoolSignal, Snapshot
from controller.simulation.world import Decisions, Observation, World


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

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval

    def decide(self, world: World, observation: Observation) -> Decisions:
        return Decisions()


class Bamel:
    """The autoscaler itself: a Snapshot per scan into the real Planner."""

    name = "bamel"

    def __init__(self, config: AutoscalerConfig, interval: float = 30.0) -> None:
        self.config = config
        self.interval = interval
        self.planner = Planner(config)
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


POLICIES = ("bamel", "always-on", "pending-only", "threshold", "loadavg")


def make_policy(name: str, config: AutoscalerConfig, *, interval: float | None = None) -> Policy:
    """The policy called name; ``interval`` overrides its scan interval."""
    from controller.simulation import baselines  # noqa: PLC0415 - baselines import us

    factories: dict[str, type] = {
        "always-on": AlwaysOn, "pending-only": baselines.PendingOnly,
        "threshold": baselines.Threshold, "loadavg": baselines.LoadAverage,
    }
    if name == "bamel":
        return Bamel(config) if interval is None else Bamel(config, interval)
    if name not in factories:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    policy: Policy = factories[name]() if interval is None else factories[name](interval)
    return policy


def efficiency_order(world: World) -> np.ndarray:
    """Machine indices, most cpu per idle watt first (ties by index): baselines power on
    from the front and off from the back, which flatters them rather than not."""
    fleet = world.fleet
    efficiency = fleet.capacity[:, 0] / np.maximum(fleet.idle_watts, 1e-9)
    return np.lexsort((np.arange(len(fleet)), -efficiency))
