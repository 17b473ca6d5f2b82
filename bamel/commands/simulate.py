"""``bamel simulate``: replay a utilisation trace through policies and compare them.

Operators see what the autoscaler would have done with their load before it
touches a machine; the same figures tune its defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulation import (
    POLICIES,
    Fleet,
    FleetError,
    Run,
    Trace,
    TraceError,
    ValueKind,
    load_fleet,
    load_trace,
    make_policy,
    parse_map,
    simulate,
)
from simulation.engine import Progress
from simulation.ideal import ideal
from simulation.report import (
    PlotUnavailable,
    markdown,
    plot,
    plotting,
    to_csv,
    to_json,
    with_savings,
)


def register(subparsers: Any) -> None:
    """Add ``simulate``."""
    parser = subparsers.add_parser(
        "simulate", help="replay a trace through policies; energy and unmet demand")
    parser.add_argument("--trace", required=True, help="CSV of utilisation over time")
    parser.add_argument("--fleet", required=True, help="fleet YAML (see examples/fleet.yaml)")
    parser.add_argument("--policy", action="append", choices=POLICIES,
                        help="repeat for several (default: all)")
    parser.add_argument("--map", dest="mapping",
                        help="resource=column pairs, e.g. cpu=cpu_util_percent,network=net_in")
    parser.add_argument("--values", choices=[k.value for k in ValueKind], default="percent",
                        help="how the mapped columns are expressed (default percent)")
    parser.add_argument("--stride", help="time between rows, e.g. 30s (no time column)")
    parser.add_argument("--time-column", help="column with seconds or ISO 8601 times")
    parser.add_argument("--peak-utilisation", type=float, default=0.9,
                        help="share of the fleet the trace's peak asks for (default 0.9)")
    parser.add_argument("--duration", help="simulate only the first DURATION (e.g. 2d)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float,
                        help="override every policy's scan interval (seconds)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--csv", type=Path, help="also write the figures as CSV here")
    parser.add_argument("--plot", type=Path, help="also write a PNG plot here")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Exit 0 with the report, 1 when the trace or fleet cannot be read or the plot
    cannot be drawn (matplotlib is an extra)."""
    try:
        if args.plot:
            plotting()
        fleet = load_fleet(args.fleet)
        trace = _trace(args)
    except PlotUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    except FleetError as error:
        for problem in error.problems:
            print(f"{args.fleet}: {problem}", file=sys.stderr)
        return 1
    except TraceError as error:
        print(f"{args.trace}: {error}", file=sys.stderr)
        return 1
    if not 0 < args.peak_utilisation <= 1:
        print("--peak-utilisation: must be in (0, 1]", file=sys.stderr)
        return 1
    for warning in trace.warnings:
        print(f"{args.trace}: warning: {warning}", file=sys.stderr)
    names = args.policy or list(POLICIES)
    runs = _run_all(fleet, trace, names, args)
    reference = next((run.figures for run in runs if run.figures.policy == "always-on"), None)
    if reference is None:
        reference = _run_all(fleet, trace, ["always-on"], args)[0].figures
    oracle = ideal(fleet, trace, args.peak_utilisation)
    figures = with_savings(runs, reference, oracle_saved=oracle.saved)
    title = (f"{Path(args.trace).name}: {trace.duration / 86400:.1f} days x "
             f"{len(fleet)} machines, peak {args.peak_utilisation:.0%}, seed {args.seed}")
    if args.json:
        print(to_json(figures, context={"trace": args.trace, "fleet": args.fleet,
                                        "machines": len(fleet), "days": trace.duration / 86400,
                                        "peak_utilisation": args.peak_utilisation,
                                        "seed": args.seed,
                                        "warnings": list(trace.warnings),
                                        "ideal_saved_vs_always_on": oracle.saved}))
    else:
        sys.stdout.write(markdown(figures, title=title, ideal_saved=oracle.saved))
    if args.csv:
        args.csv.write_text(to_csv(figures), encoding="utf-8")
    if args.plot:
        plot(runs, args.plot, title=title)
    return 0


def _trace(args: argparse.Namespace) -> Trace:
    trace = load_trace(args.trace, mapping=parse_map(args.mapping), kind=ValueKind(args.values),
                       stride=args.stride, time_column=args.time_column)
    if args.duration:
        from controller.config import parse_duration  # noqa: PLC0415

        text = args.duration.strip()
        try:
            seconds = float(text[:-1]) * 86400 if text.endswith("d") else parse_duration(text)
            trace = trace.cut(seconds)
        except ValueError as error:
            raise TraceError(f"--duration: {error}") from None
    return trace


def _run_all(fleet: Fleet, trace: Trace, names: list[str],
             args: argparse.Namespace) -> list[Run]:
    runs = []
    for name in names:
        policy = make_policy(name, fleet.config, interval=args.interval)
        with _progress(name, enabled=not args.no_progress and not args.json) as progress:
            runs.append(simulate(fleet, trace, policy, peak_utilisation=args.peak_utilisation,
                                 seed=args.seed, progress=progress))
    return runs


@contextmanager
def _progress(name: str, *, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr while a policy runs, when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    bar = Progress(TextColumn("{task.description:>14}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(name, total=1.0)
        yield lambda done: bar.update(task, completed=done)
