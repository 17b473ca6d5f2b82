"""``bamel agent``: run the node agent, print one sample, or show the BPF it compiles."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agent.identity import link_bits_per_s
from agent.model import ModelSettings
from agent.programs import describe, specs
from agent.runner import Agent, run_forever
from agent.settings import AgentConfigError, AgentSettings


def register(subparsers: Any) -> None:
    """Add ``agent``."""
    parser = subparsers.add_parser("agent", help="run the node agent (pressure probes and stream)")
    parser.add_argument("--controller", metavar="URL",
                        help="controller stream URL, e.g. ws://127.0.0.1:8080/v1/stream")
    parser.add_argument("--token-file", type=Path, help="file holding the bearer token")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--metrics-port", type=int, default=9102,
                        help="port for /metrics and /healthz (0 = off)")
    parser.add_argument("--metrics-host", default="127.0.0.1")
    parser.add_argument("--link-speed-mbit", type=float,
                        help="link capacity for the network level (default: NIC speeds, "
                             "else 1000)")
    parser.add_argument("--no-bpf", action="store_true",
                        help="use PSI and /proc only, never load probes")
    parser.add_argument("--once", action="store_true", help="take one sample and exit")
    parser.add_argument("--print", action="store_true", dest="print_sample",
                        help="with --once: print the sample as indented JSON")
    parser.add_argument("--print-bpf", action="store_true",
                        help="print exactly what BPF C is compiled, with flags, and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(handler=run_agent)


def settings_from(args: argparse.Namespace) -> AgentSettings:
    """Settings from the command line, validated."""
    link = args.link_speed_mbit * 1e6 if args.link_speed_mbit else link_bits_per_s()
    return AgentSettings(
        controller=args.controller, token_file=args.token_file, interval_s=args.interval,
        metrics_host=args.metrics_host, metrics_port=args.metrics_port or None,
        use_bpf=not args.no_bpf,
        model=replace(ModelSettings(), link_bits_per_s=link or 1e9),
    ).validate()


def run_agent(args: argparse.Namespace) -> int:
    """Entry point of ``bamel agent``."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.print_bpf:
        for spec in specs().values():
            print(describe(spec))
        return 0
    try:
        settings = settings_from(args)
    except AgentConfigError as error:
        print(f"bamel agent: {error}", file=sys.stderr)
        return 2
    if args.once:
        return asyncio.run(_once(settings, show=args.print_sample))
    if settings.controller is None:
        logging.getLogger("bamel.agent").warning("no --controller: measuring without streaming")
    asyncio.run(run_forever(Agent(settings)))
    return 0


async def _once(settings: AgentSettings, *, show: bool) -> int:
    agent = Agent(replace(settings, controller=None, metrics_port=None))
    try:
        sample = await agent.sample_once()
    finally:
        agent.sampler.close()
    if show:
        body = asdict(sample)
        body["macs"] = list(sample.macs)
        print(json.dumps(body, indent=2, sort_keys=True))
    return 0
