"""Run the benchmarks: ``python -m benchmarks [NAME ...]`` (all when none named).

Each benchmark module exposes ``run() -> list[str]``; a benchmark whose peer is
missing on this machine says so in its line instead of failing the others.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "scoring": "benchmarks.scoring_bench",
    "power": "benchmarks.power_bench",
    "simulate": "benchmarks.simulate_bench",
    "pending": "benchmarks.pending_bench",
    "agent": "benchmarks.agent_bench",
    "ingest": "benchmarks.ingest_bench",
    "reaction": "benchmarks.reaction_bench",
    "estimate": "benchmarks.estimate_bench",
    "scaledown": "benchmarks.scaledown_bench",
}


def main(names: list[str]) -> int:
    """Run the named benchmarks in order and print their figures."""
    chosen = names or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    failed = 0
    for name in chosen:
        module = importlib.import_module(BENCHMARKS[name])
        try:
            for line in module.run():
                print(line, flush=True)
        except Exception as error:
            print(f"{name}: failed: {error}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
