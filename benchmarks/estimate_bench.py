"""Scale-up estimate speed: pending pods packed onto the templates of off machines.

1000 pending pods of about forty applications (six pod shapes: some with
nodeSelectors, GPU requests and tolerations, hostname anti-affinity or host ports,
a few too big for any machine, a few expendable) onto 1000 machine templates of four
shapes in three pools (the GPU pool tainted), in a shuffled order standing for the
scorer's, with two DaemonSet pods' room taken on every machine. The figure is the
median of RUNS calls of ``estimate_scale_up`` on the same parsed pods and templates,
as the controller would call it on its informers' cache; the first (cold) call is
reported beside it.
"""

from __future__ import annotations

import random

from benchmarks.scheduling_fleet import DAEMONS, Timing, pending, templates, timed
from controller.planning.binpack import ScaleUpEstimate, estimate_scale_up

PODS = 1000
MACHINES = 1000
RUNS = 21


def measure(pods: int = PODS, machines: int = MACHINES, *, runs: int = RUNS,
            seed: int = 1) -> tuple[Timing, ScaleUpEstimate]:
    """The timing of runs calls, and the estimate."""
    rng = random.Random(seed)
    candidates = templates(machines, rng)
    rng.shuffle(candidates)
    waiting = pending(pods, rng)
    return timed(lambda: estimate_scale_up(waiting, candidates, node_daemons=DAEMONS), runs)


def run() -> list[str]:
    return lines(*measure())


def lines(timing: Timing, estimate: ScaleUpEstimate, *, pods: int = PODS,
          machines: int = MACHINES) -> list[str]:
    placed = sum(len(placed) for placed in estimate.placements.values())
    return [f"estimate: {pods} pending pods onto {machines} off machines: "
            f"p50 {timing.p50 * 1e3:.1f} ms",
            f"estimate: cpu p50 {timing.cpu_p50 * 1e3:.1f} ms, first call "
            f"{timing.first * 1e3:.1f} ms; {len(estimate.machines)} machines for "
            f"{placed} pods, {len(estimate.unplaceable)} unplaceable, "
            f"{len(estimate.ignored)} ignored"]
