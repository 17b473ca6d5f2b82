"""Showing a lab run: a live terminal dashboard, or progress lines for scripts and CI.

Both read the same :class:`LabStatus`. The dashboard (rich) redraws pressure per
pool, each machine's power and state, and the latest decisions with their reason
and each candidate's per-resource score contributions (lower is better: the
distance from the ideal machine, see docs/scoring.md). The headless printer writes
one line per thing that happened: a machine changing power or state, a decision
that acted, a pool holding for a new reason, and the pools' pressure every so often.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lab.status import LabStatus

RESOURCES = ("cpu", "memory", "network")
SHORT = {"cpu": "cpu", "memory": "mem", "network": "net", "gpu": "gpu"}
STATE_STYLES = {"ready": "green", "off": "dim", "error": "bold red", "draining": "yellow",
                "powering-on": "cyan", "joining": "cyan", "powering-off": "magenta"}
DECISIONS_SHOWN = 8
_DIGITS = re.compile(r"\d+(\.\d+)?")


class View(Protocol):
    def update(self, status: LabStatus) -> None: ...

    def close(self) -> None: ...


def describe(decision: Mapping[str, Any], *, top: int = 3) -> str:
    """``mem-1 0.11 (memory 0.09, cpu 0.02); cpu-1 0.62 (...)`` for a decision's winners."""
    parts = []
    for scoring in decision.get("rounds", []):
        for candidate in scoring.get("candidates", [])[:top]:
            contributions = ", ".join(
                f"{SHORT.get(r, r)} {v:.2f}"
                for r, v in sorted(candidate.get("contributions", {}).items(),
                                   key=lambda item: -item[1]) if v)
            parts.append(f"{candidate['name']} {candidate['total']:.2f}"
                         + (f" ({contributions})" if contributions else ""))
        break  # the first round ranks every candidate; later rounds repeat the rest
    return "; ".join(parts)


def _levels(levels: Mapping[str, float]) -> str:
    return " ".join(f"{SHORT[r]} {levels.get(r, 0.0):.2f}" for r in RESOURCES)


class Progress:
    """Headless: one line per change, flushed at once."""

    def __init__(self, out: TextIO = sys.stdout, *, pools_every: float = 15.0) -> None:
        self.out = out
        self.pools_every = pools_every
        self._machines: dict[str, tuple[str, str]] = {}
        self._holds: dict[str, str] = {}
        self._decisions = 0
        self._pools_at = -pools_every

    def update(self, status: LabStatus) -> None:
        stamp = f"[{status.elapsed:6.1f}s]"
        for row in status.machines:
            now = (row.power, row.state)
            before = self._machines.get(row.name)
            if before != now:
                error = f" ({row.last_error})" if row.state == "error" and row.last_error else ""
                self._print(f"{stamp} {row.name:8} power {row.power:7} "
                            f"state {row.state or '-'}{error}")
                self._machines[row.name] = now
        for decision in status.decisions[self._decisions:]:
            self._print(f"{stamp} decide {decision.get('pool')}: {decision.get('direction')} "
                        f"{', '.join(decision.get('chosen', []))} because "
                        f"{decision.get('reason')}; scores: {describe(decision)}")
        self._decisions = len(status.decisions)
        for pool, reason in sorted(status.holds.items()):
            gist = _DIGITS.sub("#", reason)  # "unneeded 3s of 15s" is news once, not per second
            if self._holds.get(pool) != gist:
                self._holds[pool] = gist
                self._print(f"{stamp} hold {pool}: {reason}")
        if status.elapsed - self._pools_at >= self.pools_every:
            self._pools_at = status.elapsed
            pools = "; ".join(f"{pool} {_levels(levels)}"
                              for pool, levels in sorted(status.pools.items()))
            host = f"; host {_levels(status.host)}" if status.host else ""
            self._print(f"{stamp} pressure {pools or '(no data yet)'}{host}; "
                        f"pending pods {status.pending}")

    def close(self) -> None:
        self.out.flush()

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


class Dashboard:
    """The live terminal view (rich)."""

    def __init__(self, *, duration: float, console: Console | None = None) -> None:
        self.duration = duration
        self.console = console or Console()
        self._live = Live(console=self.console, refresh_per_second=2, transient=False)
        self._live.start()

    def update(self, status: LabStatus) -> None:
        self._live.update(self.render(status))

    def close(self) -> None:
        self._live.stop()

    def render(self, status: LabStatus) -> Group:
        controller = "[green]up[/]" if status.controller_up else "[red]down[/]"
        header = Text.from_markup(
            f"[bold]bamel lab[/]  {status.elapsed:5.0f}s of {self.duration:.0f}s   "
            f"controller {controller}   pending pods {status.pending}   (Ctrl-C stops)")
        return Group(header, self._pools(status), self._machines(status),
                     self._decisions(status))

    @staticmethod
    def _pools(status: LabStatus) -> Table:
        table = Table(title="pressure per pool", title_justify="left", expand=True)
        table.add_column("pool")
        for resource in RESOURCES:
            table.add_column(resource)
        table.add_column("latest hold", ratio=3)
        for pool, levels in sorted(status.pools.items()):
            table.add_row(pool, *(_bar(levels.get(r, 0.0)) for r in RESOURCES),
                          status.holds.get(pool, ""))
        if status.host:
            sources = ", ".join(sorted(set(status.host_sources.values()))) or "?"
            table.add_row(f"this host ({sources})",
                          *(_bar(status.host.get(r, 0.0)) for r in RESOURCES),
                          "measured by bamel agent; never powered off")
        return table

    @staticmethod
    def _machines(status: LabStatus) -> Group:
        table = Table(title="machines", title_justify="left", expand=True)
        for column in ("machine", "pool", "shape", "power", "state", "pods"):
            table.add_column(column, no_wrap=True)
        for resource in RESOURCES:
            table.add_column(SHORT[resource], no_wrap=True)
        for row in status.machines:
            style = STATE_STYLES.get(row.state, "")
            levels = [f"{row.levels[r]:.2f}" if r in row.levels else "" for r in RESOURCES]
            table.add_row(row.name, row.pool, row.shape,
                          row.power if row.peer_alive else f"{row.power} (BMC down)",
                          Text(row.state or "-", style=style), str(row.pods), *levels)
        errors = [Text(f"{row.name}: {row.last_error}", style="red")
                  for row in status.machines if row.last_error]
        return Group(table, *errors)

    def _decisions(self, status: LabStatus) -> Table:
        table = Table(title="decisions", title_justify="left", expand=True)
        for column, ratio in (("t", None), ("pool", None), ("action", None), ("chose", None),
                              ("why", 2), ("scores (lower wins)", 3)):
            table.add_column(column, ratio=ratio)
        # What fits below the other tables (each decision takes about three lines).
        room = (self.console.size.height - 16 - len(status.machines) - 2 * len(status.pools)) // 3
        for decision in status.decisions[-max(1, min(DECISIONS_SHOWN, room)):]:
            table.add_row(f"{decision.get('elapsed', 0.0):.0f}s", str(decision.get("pool")),
                          str(decision.get("direction")), ", ".join(decision.get("chosen", [])),
                          str(decision.get("reason")), describe(decision))
        return table


def _bar(level: float, width: int = 10) -> Text:
    filled = round(max(0.0, min(1.0, level)) * width)
    style = "red" if level >= 0.6 else "yellow" if level >= 0.2 else "green"
    return Text("█" * filled + "·" * (width - filled) + f" {level:.2f}", style=style)
