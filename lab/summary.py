"""What a lab run cost and saved: power cycles, energy against always-on, waiting pods.

A :class:`Ledger` is fed every tick of the run. Power-ons and power-offs are counted
by the machines themselves (the peer changed state), not from what the controller
said it did. Energy integrates each machine's draw: standby watts when off, idle
plus the busy share of its CPU when on. The always-on figure charges every machine
that was off its idle draw instead, with the same busy share (the same work was
done either way): the saving is exactly the idle power of the hours spent off.
Pending pod-seconds integrate the pods waiting for a node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.machine import LabMachine, Power

JOULES_PER_WATT_HOUR = 3600.0


@dataclass(frozen=True)
class Summary:
    seconds: float
    power_ons: int
    power_offs: int
    energy_wh: float
    always_on_wh: float
    pending_pod_seconds: float
    decisions: int
    errors: tuple[str, ...] = ()

    @property
    def saved_percent(self) -> float:
        return 100.0 * (1.0 - self.energy_wh / self.always_on_wh) if self.always_on_wh else 0.0

    def render(self) -> str:
        lines = [
            f"lab run: {self.seconds:.0f}s",
            f"  power-ons:            {self.power_ons}",
            f"  power-offs:           {self.power_offs}",
            f"  decisions acted on:   {self.decisions}",
            f"  energy used:          {self.energy_wh:.2f} Wh",
            f"  all machines on:      {self.always_on_wh:.2f} Wh "
            f"(saved {self.saved_percent:.0f}%)",
            f"  pending pod-seconds:  {self.pending_pod_seconds:.0f}",
        ]
        lines += [f"  error: {error}" for error in self.errors]
        return "\n".join(lines)


class Ledger:
    """Integrates draw and waiting over the run, one ``tick`` at a time."""

    def __init__(self, machines: Sequence[LabMachine]) -> None:
        self.machines = machines
        self.seconds = 0.0
        self.joules = 0.0
        self.always_on_joules = 0.0
        self.pending_pod_seconds = 0.0

    def tick(self, seconds: float, *, pending: int) -> None:
        """Account for ``seconds`` spent as things are now."""
        self.seconds += seconds
        self.pending_pod_seconds += pending * seconds
        for machine in self.machines:
            watts = machine.watts()
            self.joules += watts * seconds
            if machine.power is Power.OFF:
                watts = machine.plan.idle_watts
            self.always_on_joules += watts * seconds

    def summary(self, *, decisions: int, errors: Sequence[str] = ()) -> Summary:
        return Summary(
            seconds=self.seconds,
            power_ons=sum(m.power_ons for m in self.machines),
            power_offs=sum(m.power_offs for m in self.machines),
            energy_wh=self.joules / JOULES_PER_WATT_HOUR,
            always_on_wh=self.always_on_joules / JOULES_PER_WATT_HOUR,
            pending_pod_seconds=self.pending_pod_seconds, decisions=decisions,
            errors=tuple(errors))
