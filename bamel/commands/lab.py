"""``bamel lab``: the whole system on this machine, for real, in one command.

A real control plane, a rack of simulated machines behind real BMC, Redfish,
Wake-on-LAN and SSH peers, hollow kubelets, this host's own agent, the controller
and a workload that ramps up and down; a live view while it runs, and a summary
at the end. See docs/lab.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from controller.config.units import parse_duration


def register(subparsers: Any) -> None:
    """Add ``lab``."""
    parser = subparsers.add_parser(
        "lab", help="run the whole system on this machine (control plane, fleet, controller)")
    parser.add_argument("--duration", default="3m",
                        help="how long to run, e.g. 90s, 3m; 0 runs until Ctrl-C "
                             "(default %(default)s)")
    parser.add_argument("--headless", action="store_true",
                        help="print progress lines instead of the live view, then the summary")
    parser.add_argument("--no-agent", dest="host_agent", action="store_false",
                        help="do not run the real agent for this host")
    parser.add_argument("--no-bpf", dest="host_bpf", action="store_false",
                        help="the host's agent uses PSI and /proc only")
    parser.add_argument("--no-trace", dest="trace", action="store_false",
                        help="pods work steadily instead of following the Alibaba trace")
    parser.add_argument("--workdir", type=Path,
                        help="keep configuration, tokens and every log here (default: a "
                             "temporary directory, removed at the end)")
    parser.set_defaults(handler=run_lab)


def run_lab(args: argparse.Namespace) -> int:
    """Exit 0 after a full run, 1 if a component failed, 130 when stopped early."""
    # The lab is the test bed, not the product: it plays the kubelets and the operator,
    # so it talks to the API server with kubernetes-asyncio itself, which the layering
    # contract forbids to the product's packages (bamel included). It is loaded by name,
    # as bamel.cli loads every subcommand, so that contract keeps checking the product
    # code and the command line stays free of the lab unless `bamel lab` is run.
    lab_run = importlib.import_module("lab.run")
    try:
        seconds = parse_duration(args.duration)
    except ValueError as error:
        print(f"bamel lab: --duration: {error}", file=sys.stderr)
        return 2
    _log_to(args.workdir, verbose=args.headless)
    options = lab_run.LabOptions(duration=seconds or None, host_agent=args.host_agent,
                         host_bpf=args.host_bpf, trace=args.trace, workdir=args.workdir)
    try:
        summary = asyncio.run(lab_run.run(options, headless=args.headless))
    except Exception as error:  # any failure to start: say it in one line, exit 1
        print(f"bamel lab: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("bamel lab: stopped before the run began", file=sys.stderr)
        return 130
    print(summary.render())
    if "stopped by signal" in summary.errors:
        return 130
    return 1 if summary.errors else 0


def _log_to(workdir: Path | None, *, verbose: bool) -> None:
    """Warnings to stderr (headless) or nowhere (the live view owns the terminal);
    everything to lab.log in the work directory when one is kept."""
    handlers: list[logging.Handler] = []
    if verbose:
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.WARNING)
        handlers.append(stderr)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(workdir / "lab.log"))
    logging.basicConfig(level=logging.INFO, handlers=handlers or [logging.NullHandler()],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
