"""The command line: every subcommand listed, and only the chosen one imported."""

from __future__ import annotations

import subprocess
import sys

from bamel.cli import SUBCOMMANDS, build_parser


def test_help_lists_every_subcommand() -> None:
    text = build_parser().format_help()
    assert all(name in text for name in SUBCOMMANDS)


def test_the_agent_does_not_load_the_controller_stack() -> None:
    probe = ("import sys; from bamel.cli import build_parser; build_parser('agent'); "
             "print(sorted(m for m in ('kubernetes_asyncio', 'pydantic', 'controller') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
