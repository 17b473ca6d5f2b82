"""Properties of the estimator and the scale-down simulation over random clusters.

Every placement either reports is re-checked from scratch with ``predicates.fits``
(one pod at a time, against everything else on its node), so the vectorised packers
can never claim a placement the plain predicates would refuse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.planning.binpack import estimate_scale_up, trigger_refusal
from controller.planning.disruption import goes_with_node
from controller.planning.pods import Pod, PodShape, Toleration
from controller.planning.predicates import fits, node_reason, used_units
from controller.planning.scaledown import NodeState, ScaleDownSimulator
from controller.planning.templates import NodeTemplate, Taint
from tests.planning.scheduling import GiB, node, pod, spread, term

GPU_TAINT = Taint("gpu", "yes", "NoSchedule")
APPS = ("a", "b", "c")


@st.composite
def templates(draw: st.DrawFn, prefix: str, most: int) -> list[NodeTemplate]:
    count = draw(st.integers(0, most))
    return [node(f"{prefix}{i}", cpu=draw(st.sampled_from([1, 2, 4, 8])),
                 memory=draw(st.sampled_from([1, 4, 16])) * GiB,
                 pods=draw(st.integers(1, 8)), gpu=draw(st.sampled_from([0, 0, 1, 2])),
                 labels=draw(st.sampled_from([{}, {"zone": "a"}, {"zone": "b", "disk": "ssd"}])),
                 taints=draw(st.sampled_from([[], [], [GPU_TAINT]])))
            for i in range(count)]


@st.composite
def pods(draw: st.DrawFn, prefix: str, most: int) -> list[Pod]:
    out = []
    for i in range(draw(st.integers(0, most))):
        app = draw(st.sampled_from(APPS))
        namespace = draw(st.sampled_from(["x", "y"]))
        out.append(pod(
            f"{prefix}{i}", namespace=namespace, labels={"app": app},
            cpu=draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1, 2, 3])),
            memory=draw(st.sampled_from([0, 0.5, 1, 3])) * GiB,
            gpu=draw(st.sampled_from([0, 0, 0, 1])),
            selector=draw(st.sampled_from([None, None, {"zone": "a"}])),
            affinity=draw(st.sampled_from([[], [], [term(("zone", "NotIn", ("b",)))],
                                           [term(("disk", "Exists", ()))]])),
            tolerations=draw(st.sampled_from([[], [Toleration("gpu", "Exists")]])),
            anti=draw(st.sampled_from([[], [], [spread(app, [namespace])],
                                       [spread(draw(st.sampled_from(APPS)), None)]])),
            ports=draw(st.sampled_from([[], [], [], [80], [80, 443]])),
            owner=draw(st.sampled_from(["ReplicaSet", "ReplicaSet", "DaemonSet"])),
            priority=draw(st.sampled_from([0, 0, 0, -20])),
            gated=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())))
    return out


def assert_valid(template: NodeTemplate, present: Sequence[Pod], added: Sequence[Pod]) -> None:
    """Each added pod fits template beside everything else on it, checked from scratch."""
    for index, newcomer in enumerate(added):
        others = [*present, *added[:index], *added[index + 1:]]
        assert fits(newcomer, template, others), (newcomer.key, template.name)


DAEMON = PodShape.of(namespace="kube-system", requests={"cpu": 0.1}, host_ports=())


@settings(max_examples=200, deadline=None)
@given(templates("off-", 8), templates("up-", 2), pods("p", 24), st.booleans())
def test_no_placement_the_estimator_reports_breaks_a_predicate(
    candidates: list[NodeTemplate], arriving: list[NodeTemplate], pending: list[Pod],
    daemons: bool,
) -> None:
    shapes = [DAEMON] if daemons else []
    estimate = estimate_scale_up(pending, candidates, arriving=arriving, node_daemons=shapes)
    by_name = {t.name: t for t in [*arriving, *candidates]}
    for name, placed in estimate.placements.items():
        template = by_name[name]
        running = [Pod("kube-system", f"daemon-{name}", s) for s in shapes
                   if node_reason(s, template) is None]
        assert_valid(template, running, placed)
    # every machine chosen is a candidate holding a pod, in the scorer's order
    assert list(estimate.machines) == [t.name for t in candidates
                                       if t.name in estimate.placements]
    # each pod is accounted for exactly once, and only the right ones are ignored
    placed_keys = [p.key for placed in estimate.placements.values() for p in placed]
    told = placed_keys + [v.pod.key for v in estimate.unplaceable + estimate.ignored]
    assert sorted(told) == sorted(p.key for p in pending)
    assert {v.pod.key for v in estimate.ignored} == {
        p.key for p in pending if trigger_refusal(p) is not None}
    # an unplaceable pod fits no machine as the estimate leaves them
    for verdict in estimate.unplaceable:
        for name, template in by_name.items():
            running = [Pod("kube-system", f"daemon-{name}", s) for s in shapes
                       if node_reason(s, template) is None]
            assert not fits(verdict.pod, template,
                            [*running, *estimate.placements.get(name, ())])


@st.composite
def clusters(draw: st.DrawFn) -> list[NodeState]:
    """Nodes holding the pods that fit them (as the scheduler would have left them),
    and now and then one that does not (a node whose allocatable shrank)."""
    shapes = draw(templates("n", 7))
    held: list[list[Pod]] = [[] for _ in shapes]
    for candidate in draw(pods("p", 30)) if shapes else []:
        index = draw(st.integers(0, len(shapes) - 1))
        if fits(candidate, shapes[index], held[index]) or draw(st.integers(0, 9)) == 0:
            held[index].append(candidate)
    return [NodeState(t, tuple(h)) for t, h in zip(shapes, held, strict=True)]


def movable(state: NodeState) -> list[Pod]:
    return [p for p in state.pods if not goes_with_node(p)]


def free_room(state: NodeState) -> dict[str, int]:
    used = used_units(p for p in state.pods if p.phase not in ("Succeeded", "Failed"))
    return {name: have - used.get(name, 0)
            for name, have in state.template.allocatable_units.items()}


@settings(max_examples=200, deadline=None)
@given(clusters(), st.data())
def test_the_simulation_never_approves_a_node_whose_pods_exceed_the_room_left(
    cluster: list[NodeState], data: st.DataObject,
) -> None:
    names = [s.name for s in cluster]
    removing = data.draw(st.sets(st.sampled_from(names))) if names else set()
    verdicts = ScaleDownSimulator(cluster).check_all(removing=removing)
    states = {s.name: s for s in cluster}
    for name, verdict in verdicts.items():
        if not verdict.removable:
            continue
        moved = [p for _, placed in verdict.moves for p in placed]
        assert sorted(p.key for p in moved) == sorted(p.key for p in movable(states[name]))
        targets = {target for target, _ in verdict.moves}
        assert not targets & (removing | {name})
        for target in targets:
            arriving = [p for t, placed in verdict.moves if t == target for p in placed]
            assert_valid(states[target].template, states[target].pods, arriving)
        # in sum too: what moves is no more than the room the other nodes have left
        asked = used_units(moved)
        room: dict[str, int] = {}
        for other in cluster:
            if other.name not in removing | {name}:
                for resource, free in free_room(other).items():
                    room[resource] = room.get(resource, 0) + max(free, 0)
        for resource, total in asked.items():
            if resource != "ephemeral-storage":
                assert total <= room.get(resource, 0), resource


@settings(max_examples=200, deadline=None)
@given(clusters(), st.randoms(use_true_random=False))
def test_nodes_removed_one_after_another_leave_every_pod_somewhere_valid(
    cluster: list[NodeState], rng: random.Random,
) -> None:
    simulator = ScaleDownSimulator(cluster)
    order = [s.name for s in cluster]
    rng.shuffle(order)
    home = {p.key: s.name for s in cluster for p in s.pods}
    where = dict(home)
    everyone = {p.key: p for s in cluster for p in s.pods}
    gone = set()
    for name in order:
        verdict = simulator.remove(name)
        if verdict.removable:
            gone.add(name)
            for target, placed in verdict.moves:
                assert target not in gone
                for moved in placed:
                    where[moved.key] = target
    for key, name in where.items():
        assert name not in gone or goes_with_node(everyone[key]), key
    for state in cluster:
        if state.name not in gone:
            present = [p for p in state.pods if where[p.key] == state.name]
            added = [everyone[k] for k, n in where.items() if n == state.name and home[k] != n]
            assert_valid(state.template, present, added)
