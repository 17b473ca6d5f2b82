"""``bamel config check FILE``: validate a configuration before it reaches a cluster."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from controller.config import ConfigError, load_config, render_config
from controller.power import DRIVERS, unwakeable


def register(subparsers: Any) -> None:
    """Add ``config check``."""
    parser = subparsers.add_parser("config", help="work with the configuration document")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate FILE; print the errors, or the effective config"
    )
    check.add_argument("file", help="the AutoscalerConfig YAML (the ConfigMap body)")
    check.add_argument("--quiet", action="store_true", help="print nothing when valid")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 with the effective config, or 1 with one error per line.

    Every driver's settings are checked against its schema, offline. A Wake-on-LAN
    machine with no MAC passes with a warning: its agent reports the MAC once the
    machine runs, and no record of that is at hand here.
    """
    try:
        config = load_config(args.file, drivers=DRIVERS)
    except ConfigError as error:
        for problem in error.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return 1
    for warning in unwakeable(config, learned={}):
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        sys.stdout.write(render_config(config))
    return 0
