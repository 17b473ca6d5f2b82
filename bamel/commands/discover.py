"""``bamel discover``: a draft inventory from a running cluster's Nodes.

Prints a configuration document with one machine per Node and everything the
cluster knows about it (``controller.kube.discovery``); a person adds how to reach
each BMC, then ``bamel config check`` accepts it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from controller.kube.client import KubeClient
from controller.kube.drafting import discover, draft
from controller.kube.errors import KubeError


def register(subparsers: Any) -> None:
    """Add ``discover``."""
    parser = subparsers.add_parser(
        "discover", help="print a draft inventory: one machine per Node of a running cluster")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else in-cluster")
    parser.add_argument("-l", "--selector", help="only Nodes matching this label selector")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the draft; 1 with the reason when the cluster cannot be read."""
    try:
        text = asyncio.run(_draft(args.kubeconfig, args.selector))
    except KubeError as error:
        print(f"cannot read the cluster's Nodes: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


async def _draft(kubeconfig: str | None, selector: str | None) -> str:
    client = await KubeClient.connect(kubeconfig)
    try:
        found, skipped = await discover(client, selector=selector)
    finally:
        await client.close()
    return draft(found, skipped=skipped, origin=kubeconfig or "")
