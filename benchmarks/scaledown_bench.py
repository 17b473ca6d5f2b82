"""Scale-down simulation speed: every node of a 1000-node cluster checked at once.

1000 ready nodes of four shapes in three pools holding 30,000 pods in all (two
DaemonSet pods on each node that admits them, the rest from a few hundred applications of six pod
shapes: nodeSelectors, GPU tolerations, hostname anti-affinity, host ports, some
emptyDirs), filled round-robin to at most 70 % of their cpu and memory, with a
PodDisruptionBudget for one application in three and one node in fifty annotated
scale-down-disabled. The figure is the median of RUNS calls of ``check_nodes``,
from the parsed nodes, pods and budgets to a verdict for every node. The NodeStates
are kept from call to call, as the controller keeps a node's until its pods change:
each groups its pods by shape once, and the first (cold) call, reported beside the
median, pays for that.
"""

from __future__ import annotations

import random
from collections import Counter

from benchmarks.scheduling_fleet import Timing, cluster, timed
from controller.planning.scaledown import NodeVerdict, check_nodes

NODES = 1000
PODS = 30_000
RUNS = 11


def measure(nodes: int = NODES, pods: int = PODS, *, runs: int = RUNS,
            seed: int = 2) -> tuple[Timing, dict[str, NodeVerdict]]:
    """The timing of runs calls, and the verdicts."""
    states, budgets = cluster(nodes, pods, random.Random(seed))
    return timed(lambda: check_nodes(states, budgets), runs)


def run() -> list[str]:
    return lines(*measure())


def lines(timing: Timing, verdicts: dict[str, NodeVerdict], *, nodes: int = NODES,
          pods: int = PODS) -> list[str]:
    kinds = Counter(kind_of(v) for v in verdicts.values())
    said = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return [f"scale-down: {nodes} nodes x {pods} pods, every node checked: "
            f"p50 {timing.p50 * 1e3:.0f} ms",
            f"scale-down: cpu p50 {timing.cpu_p50 * 1e3:.0f} ms, first call "
            f"{timing.first * 1e3:.0f} ms; {said}"]


def kind_of(verdict: NodeVerdict) -> str:
    """What kept a node, in a word or three, for the summary line."""
    if verdict.removable:
        return "removable"
    if "nowhere to go" in verdict.reason:
        return "kept: no room for a pod"
    if "PodDisruptionBudget" in verdict.reason:
        return "kept: a budget"
    return "kept: a blocking pod or annotation"
