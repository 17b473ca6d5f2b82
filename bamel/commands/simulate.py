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

from controller.config import ConfigError, load_config, parse_duration
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
from simulation.fleet import fleet_from_config
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
from simulation.synthetic import DAY, SHAPES, synthetic_trace


def register(subparsers: Any) -> None:
    """Add ``simulate``."""
    parser = subparsers.add_parser(
        "simulate", help="replay a trace through policies; energy and unmet demand")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="CSV of utilisation over time")
    source.add_argument("--synthetic", choices=list(SHAPES),
                        help="replay a synthetic cpu load of this shape (docs/simulation.md)")
    source.add_argument("--prometheus", metavar="URL",
                        help="replay the cluster's own history from this Prometheus")
    parser.add_argument("--since", default="14d",
                        help="--prometheus: how far back to read (default 14d)")
    machines = parser.add_mutually_exclusive_group(required=True)
    machines.add_argument("--fleet", help="fleet YAML (see examples/fleet.yaml)")
    machines.add_argument("--config", help="the autoscaler's configuration: its machines "
                                           "are the fleet")
    parser.add_argument("--policy", action="append", choices=POLICIES,
                        help="repeat for several (default: all)")
    parser.add_argument("--map", dest="mapping",
                        help="resource=column pairs, e.g. cpu=cpu_util_percent,network=net_in")
    parser.add_argument("--values", choices=[k.value for k in ValueKind], default="percent",
                        help="how the mapped columns are expressed (default percent)")
    parser.add_argument("--stride", help="time between rows, e.g. 30s (no time column; "
                                         "--synthetic: default 30s; --prometheus: 5m)")
    parser.add_argument("--time-column", help="column with seconds or ISO 8601 times")
    parser.add_argument("--peak-utilisation", type=float,
                        help="share of the fleet the trace's peak asks for (default 0.9; "
                             "--prometheus: as measured)")
    parser.add_argument("--duration", help="simulate only the first DURATION (e.g. 2d; "
                                           "--synthetic: default 8d)")
    parser.add_argument("--seed", type=int, default=1,
                        help="boot times and failures; --synthetic: the load too")
    parser.add_argument("--noise", type=float, default=1.0,
                        help="--synthetic: times the shape's own noise (0: none; default 1)")
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
        fleet = _fleet(args)
        trace = _trace(args, fleet)
        args.peak_utilisation = _peak(args, trace)
    except PlotUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    except (FleetError, ConfigError) as error:
        for problem in error.problems:
            print(f"{args.fleet or args.config}: {problem}", file=sys.stderr)
        return 1
    except TraceError as error:
        print(f"{_source(args)}: {error}", file=sys.stderr)
        return 1
    for warning in trace.warnings:
        print(f"{_source(args)}: warning: {warning}", file=sys.stderr)
    names = args.policy or list(POLICIES)
    runs = _run_all(fleet, trace, names, args)
    reference = next((run.figures for run in runs if run.figures.policy == "always-on"), None)
    if reference is None:
        reference = _run_all(fleet, trace, ["always-on"], args)[0].figures
    oracle = ideal(fleet, trace, args.peak_utilisation)
    figures = with_savings(runs, reference, oracle_saved=oracle.saved)
    title = (f"{_title(args)}: {trace.duration / 86400:.1f} days x "
             f"{len(fleet)} machines, peak {args.peak_utilisation:.0%}, seed {args.seed}")
    if args.json:
        print(to_json(figures, context=_context(args, fleet, trace, oracle.saved)))
    else:
        sys.stdout.write(markdown(figures, title=title, ideal_saved=oracle.saved))
    if args.csv:
        args.csv.write_text(to_csv(figures), encoding="utf-8")
    if args.plot:
        plot(runs, args.plot, title=title)
    return 0


def _context(args: argparse.Namespace, fleet: Fleet, trace: Trace,
             oracle_saved: float) -> dict[str, object]:
    """What the JSON report says about the run beside the policies' figures."""
    context: dict[str, object] = {
        "trace": _source(args), "fleet": args.fleet or args.config, "machines": len(fleet),
        "days": trace.duration / DAY, "peak_utilisation": args.peak_utilisation,
        "seed": args.seed}
    if args.synthetic:
        context["noise"] = args.noise
    context.update(warnings=list(trace.warnings), ideal_saved_vs_always_on=oracle_saved)
    return context


def _source(args: argparse.Namespace) -> str:
    """Where the load comes from, as errors and the JSON report name it."""
    if args.synthetic:
        return f"synthetic:{args.synthetic}"
    if args.prometheus:
        from simulation.prometheus import redact  # noqa: PLC0415

        return f"prometheus:{redact(args.prometheus)}"
    return str(args.trace)


def _title(args: argparse.Namespace) -> str:
    if args.synthetic:
        return f"synthetic {args.synthetic} (noise {args.noise:g})"
    if args.prometheus:
        return f"{_source(args)}, the last {args.since}"
    return Path(args.trace).name


def _fleet(args: argparse.Namespace) -> Fleet:
    if args.fleet:
        return load_fleet(args.fleet)
    return fleet_from_config(load_config(args.config))


def _peak(args: argparse.Namespace, trace: Trace) -> float:
    """The share of the fleet the trace's busiest moment asks for: given, 0.9, or for a
    cluster's own history, what it measured (its demand is not rescaled)."""
    if args.peak_utilisation is not None:
        if not 0 < args.peak_utilisation <= 1:
            raise TraceError("--peak-utilisation: must be in (0, 1]")
        return float(args.peak_utilisation)
    if not args.prometheus:
        return 0.9
    measured = float(trace.share.max())
    if measured <= 0:
        raise TraceError(f"no load at all in the last {args.since}")
    return measured


def _trace(args: argparse.Namespace, fleet: Fleet) -> Trace:
    if args.prometheus:
        from simulation.prometheus import read_history  # noqa: PLC0415 - brings requests

        history = read_history(args.prometheus, since=_seconds(args.since, "--since"),
                               step=_seconds(args.stride or "5m", "--stride"))
        return history.trace(fleet.total_capacity)
    if args.synthetic:
        days = _seconds(args.duration or "8d", "--duration") / DAY
        stride = _seconds(args.stride or "30s", "--stride")
        return synthetic_trace(args.synthetic, days=days, stride=stride, seed=args.seed,
                               noise=args.noise)
    trace = load_trace(args.trace, mapping=parse_map(args.mapping), kind=ValueKind(args.values),
                       stride=args.stride, time_column=args.time_column)
    if args.duration:
        trace = trace.cut(_seconds(args.duration, "--duration"))
    return trace


def _seconds(text: str, flag: str) -> float:
    """A duration given on the command line (``2d``, ``36h``, ``30s``) in seconds."""
    text = text.strip()
    try:
        return float(text[:-1]) * DAY if text.endswith("d") else parse_duration(text)
    except ValueError as error:
        raise TraceError(f"{flag}: {error}") from None


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
