"""The chaos run's accounting: what counts as one command, and as a duplicate.

Without peers: each machine stands in with the records its peer would hold, so the
rules are shown to catch a repeat (the run's assertion could not fail otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from lab.machine import LabMachine
from lab.rack import RedfishPower, WolSshPower
from tests.reliability.chaos import ChaosReport, commands, duplicates


@dataclass
class Recorded:
    lines: list[str]

    def records(self) -> list[str]:
        return list(self.lines)


@dataclass
class Machine:
    name: str
    peer: Any
    power_ons: int = 0
    power_offs: int = 0


def _machines(*machines: Machine) -> list[LabMachine]:
    return cast(list[LabMachine], list(machines))


def _wol(records: list[str], times: list[float]) -> WolSshPower:
    peer = object.__new__(WolSshPower)
    peer._records = records  # type: ignore[attr-defined]
    peer.heard_at = times
    return peer


class _Redfish(RedfishPower):
    def __init__(self, resets: int) -> None:
        self.resets = resets

    def records(self) -> list[str]:
        return ["POST .../ComputerSystem.Reset HTTP/1.1\" 204 -"] * self.resets


def test_an_ipmi_power_on_sent_twice_is_a_duplicate_and_an_alternation_is_not() -> None:
    fine = Machine("a", Recorded(["set power 1", "set shutdown 1", "set power 1"]))
    twice = Machine("b", Recorded(["set power 1", "set power 1"]))
    off_twice = Machine("c", Recorded(["set power 1", "set shutdown 1", "set power 0"]))
    found = duplicates(_machines(fine, twice, off_twice))
    assert [line.split(":")[0] for line in found] == ["b", "c"]
    assert commands(cast(LabMachine, fine)) == ["on", "off", "on"]


def test_wake_on_lan_packets_of_one_burst_are_one_command() -> None:
    burst = _wol(["wake m", "wake m", "systemctl poweroff", "wake m", "wake m"],
                 [0.0, 0.05, 10.0, 20.0, 20.05])
    again = _wol(["wake m", "wake m", "wake m"], [0.0, 0.05, 5.0])
    assert commands(cast(LabMachine, Machine("w", burst))) == ["on", "off", "on"]
    assert duplicates(_machines(Machine("w", burst))) == []
    assert len(duplicates(_machines(Machine("x", again)))) == 1


def test_a_redfish_reset_that_changed_nothing_is_a_duplicate() -> None:
    assert duplicates(_machines(Machine("r", _Redfish(3), power_ons=2, power_offs=1))) == []
    assert duplicates(_machines(Machine("r", _Redfish(3), power_ons=1, power_offs=1))) == [
        "r: 3 resets, 2 power changes"]


def test_the_line_reports_the_nearest_rank_p99() -> None:
    report = ChaosReport(actions=12, convergence=[float(n) for n in range(1, 101)])
    report.kills = []
    assert report.p99() == 99.0
    assert report.line() == "chaos: 0 kills over 12 power actions: 0 duplicates, " \
        "convergence p99 99.0 s"
