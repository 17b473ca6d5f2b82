"""The ``bamel`` command line: subcommands register themselves from their packages.

Each subcommand lives beside the code it drives and is imported only when chosen,
so ``bamel config check`` does not pay for BCC or the Kubernetes client.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]

SUBCOMMANDS: dict[str, str] = {
    "config": "bamel.commands.config",
    "simulate": "bamel.commands.simulate",
    "power": "bamel.commands.power",
    "agent": "bamel.commands.agent",
    "explain": "bamel.commands.explain",
    "lab": "bamel.commands.lab",
    "controller": "bamel.commands.controller",
    "discover": "bamel.commands.discover",
}
"""Subcommand name → module with ``register(subparsers)`` returning nothing."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand registered, or only the one named ``only``.

    Registering a subcommand imports its module, and with it what it drives: the
    agent on every node must not carry the controller's Kubernetes client (about
    80 MiB of resident memory), so ``main`` registers only the chosen one.
    """
    parser = argparse.ArgumentParser(
        prog="bamel", description="Power bare-metal Kubernetes nodes on and off from pressure."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        if only is None or name == only:
            importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv and run the chosen subcommand; return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(arguments)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
