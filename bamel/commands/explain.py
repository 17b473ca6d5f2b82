"""``bamel explain``: the controller's last decisions, with every candidate's scores."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``explain``."""
    parser = subparsers.add_parser(
        "explain", help="show the controller's last decisions and why each machine won or lost")
    parser.add_argument("--url", default="http://127.0.0.1:8080",
                        help="the controller's HTTP address (default %(default)s)")
    parser.add_argument("--pool", help="only this pool")
    parser.add_argument("--limit", type=int, default=5, help="decisions to show")
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fetch /explain and print it for a person (or as JSON)."""
    query = f"?limit={args.limit}" + (f"&pool={args.pool}" if args.pool else "")
    try:
        with urllib.request.urlopen(f"{args.url}/explain{query}", timeout=10) as response:
            payload = json.load(response)
    except OSError as error:
        print(f"cannot reach the controller at {args.url}: {error}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    for decision in payload["decisions"]:
        print(render(decision))
    return 0


def render(decision: dict[str, Any]) -> str:
    """One decision as text: the reason, then each scoring round's table."""
    chosen = ", ".join(decision["chosen"]) or "nothing"
    lines = [f"[{decision['pool']}] {decision['direction'] or 'hold'}: {chosen} — "
             f"{decision['reason']}"]
    lines.extend(f"  {trigger['says']} [{trigger['state']}]"
                 + (" — made this decision" if trigger["caused"] else "")
                 for trigger in decision.get("triggers", {}).values())
    for scoring in decision["rounds"]:
        lines.append(f"  winner {scoring['winner']}: {scoring['reason']}")
        for candidate in scoring["candidates"]:
            parts = " ".join(f"{k}={v:.3f}" for k, v in candidate["contributions"].items())
            lines.append(f"    #{candidate['rank']} {candidate['name']:<20} "
                         f"total={candidate['total']:.3f}  {parts}  "
                         f"failures={candidate['failures']:.3f}")
    lines.extend(f"  excluded {name}: {why}" for name, why in decision["excluded"].items())
    lines.extend(f"  pod {pod} fits no machine: {why}"
                 for pod, why in decision.get("unplaceable", {}).items())
    lines.extend(f"  pod {pod} asks for no machine: {why}"
                 for pod, why in decision.get("ignored", {}).items())
    return "\n".join(lines)
