"""The scale-up estimate: hand-worked packings of pending pods onto off machines."""

from __future__ import annotations

from controller.planning.binpack import PodVerdict, estimate_scale_up, trigger_refusal
from controller.planning.pods import PodShape, Toleration
from controller.planning.templates import Taint
from tests.planning.scheduling import GiB, node, pod, spread

GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


def names(verdicts: tuple[PodVerdict, ...]) -> list[str]:
    return [verdict.pod.name for verdict in verdicts]


def test_a_pod_bigger_than_every_machine_powers_nothing_on() -> None:
    estimate = estimate_scale_up([pod("huge", cpu=128)],
                                 [node("a", cpu=16), node("b", cpu=64)])
    assert estimate.machines == ()
    assert estimate.placements == {}
    assert [(v.pod.name, v.reason) for v in estimate.unplaceable] == [
        ("huge", "0/2 machines are available: 2 Insufficient cpu.")]


def test_the_reason_counts_each_machines_first_failing_filter() -> None:
    machines = [node("cpu", cpu=8), node("gpu", cpu=64, gpu=4, taints=[GPU_TAINT])]
    [verdict] = estimate_scale_up([pod("p", cpu=32)], machines).unplaceable
    assert verdict.reason == ("0/2 machines are available: 1 Insufficient cpu, "
                              "1 node(s) had untolerated taint {nvidia.com/gpu: present}.")


def test_a_gpu_pod_wakes_only_the_gpu_machine_though_a_cpu_machine_ranks_first() -> None:
    gpu_pod = pod("train", cpu=4, gpu=1, tolerations=[Toleration("nvidia.com/gpu", "Exists")])
    estimate = estimate_scale_up([gpu_pod], [node("cpu", cpu=64),
                                             node("gpu", cpu=32, gpu=4, taints=[GPU_TAINT])])
    assert estimate.machines == ("gpu",)
    assert estimate.placements == {"gpu": (gpu_pod,)}


def test_a_node_selector_only_one_template_satisfies() -> None:
    pinned = pod("p", cpu=1, selector={"disk": "nvme"})
    estimate = estimate_scale_up([pinned], [node("a"), node("b", labels={"disk": "nvme"}),
                                            node("c", labels={"disk": "nvme"})])
    assert estimate.machines == ("b",)


def test_two_replicas_with_hostname_anti_affinity_need_two_machines() -> None:
    replicas = [pod(f"web-{i}", cpu=1, labels={"app": "web"}, anti=[spread("web")])
                for i in range(2)]
    estimate = estimate_scale_up(replicas, [node("a", cpu=16), node("b", cpu=16),
                                            node("c", cpu=16)])
    assert estimate.machines == ("a", "b")
    assert estimate.placements == {"a": (replicas[0],), "b": (replicas[1],)}


def test_more_spread_replicas_than_machines_leave_the_rest_unplaceable() -> None:
    replicas = [pod(f"web-{i}", cpu=1, labels={"app": "web"}, anti=[spread("web")])
                for i in range(3)]
    estimate = estimate_scale_up(replicas, [node("a"), node("b")])
    assert estimate.machines == ("a", "b")
    assert names(estimate.unplaceable) == ["web-2"]
    assert estimate.unplaceable[0].reason == (
        "0/2 machines are available: 2 node(s) didn't match pod anti-affinity rules.")


def test_the_same_host_port_takes_two_machines() -> None:
    estimate = estimate_scale_up([pod("a", ports=[443]), pod("b", ports=[443])],
                                 [node("x"), node("y")])
    assert estimate.machines == ("x", "y")


def test_pods_fill_the_first_machine_in_the_scorers_order_before_the_next() -> None:
    pods = [pod(f"p{i}", cpu=2, memory=GiB) for i in range(4)]
    estimate = estimate_scale_up(pods, [node("preferred", cpu=8), node("other", cpu=64)])
    assert estimate.machines == ("preferred",)
    assert estimate.placements["preferred"] == tuple(pods)


def test_largest_pods_first_so_two_machines_do_what_arrival_order_needs_three_for() -> None:
    """4, 4, 6, 6 cores onto 10-core machines: taken as they come, 4 + 4 fill the first
    and each 6 needs a machine of its own; first-fit decreasing pairs each 6 with a 4."""
    four_1, four_2, six_1, six_2 = (pod("four-1", cpu=4), pod("four-2", cpu=4),
                                    pod("six-1", cpu=6), pod("six-2", cpu=6))
    estimate = estimate_scale_up([four_1, four_2, six_1, six_2],
                                 [node("a", cpu=10), node("b", cpu=10), node("c", cpu=10)])
    assert estimate.machines == ("a", "b")
    assert estimate.placements == {"a": (six_1, four_1), "b": (six_2, four_2)}
    assert estimate.unplaceable == ()


def test_the_dominant_request_orders_pods_of_different_resources() -> None:
    """A pod taking 90 % of a machine's memory goes before one taking 50 % of its cpu."""
    memory_heavy, cpu_heavy = pod("mem", cpu=1, memory=9 * GiB), pod("cpu", cpu=4)
    estimate = estimate_scale_up([cpu_heavy, memory_heavy],
                                 [node("a", cpu=8, memory=10 * GiB)])
    assert estimate.placements == {"a": (memory_heavy, cpu_heavy)}


def test_expendable_gated_and_nominated_pods_do_not_trigger() -> None:
    ignored = [pod("cheap", cpu=1, priority=-11), pod("gated", cpu=1, gated=True),
               pod("nominated", cpu=1, nominated="node-7")]
    at_cutoff = pod("at-cutoff", cpu=1, priority=-10)
    estimate = estimate_scale_up([*ignored, at_cutoff], [node("a")])
    assert [(v.pod.name, v.reason) for v in estimate.ignored] == [
        ("cheap", "priority -11 is below the cutoff -10 (expendable)"),
        ("gated", "the pod has scheduling gates"),
        ("nominated", "preemption nominated node node-7 for it")]
    assert estimate.placements == {"a": (at_cutoff,)}
    assert trigger_refusal(pod("p", priority=-5), priority_cutoff=0) is not None


def test_machines_already_arriving_take_pods_first_and_are_not_chosen_again() -> None:
    pods = [pod(f"p{i}", cpu=2) for i in range(3)]
    estimate = estimate_scale_up(pods, [node("off", cpu=8)], arriving=[node("booting", cpu=4)])
    assert estimate.machines == ("off",)
    assert estimate.placements == {"booting": tuple(pods[:2]), "off": (pods[2],)}
    covered = estimate_scale_up(pods[:2], [node("off", cpu=8)],
                                arriving=[node("booting", cpu=4)])
    assert covered.machines == ()


def test_daemonset_pods_take_their_room_on_every_machine_they_would_run_on() -> None:
    daemon = PodShape.of(namespace="kube-system", requests={"cpu": 1})
    estimate = estimate_scale_up([pod("p", cpu=3.5)], [node("a", cpu=4)], node_daemons=[daemon])
    assert estimate.unplaceable[0].reason == "0/1 machines are available: 1 Insufficient cpu."
    # a daemon that does not tolerate a machine's taint takes nothing there
    tainted = node("g", cpu=4, taints=[Taint("dedicated", "x", "NoSchedule")])
    tolerant = pod("p", cpu=3.5, tolerations=[Toleration("dedicated", "Exists")])
    assert estimate_scale_up([tolerant], [tainted], node_daemons=[daemon]).machines == ("g",)


def test_no_candidates_leaves_every_pod_unplaceable() -> None:
    estimate = estimate_scale_up([pod("p", cpu=1)], [])
    assert estimate.unplaceable[0].reason == "0/0 machines are available."


def test_constraints_the_model_does_not_know_are_left_to_the_scheduler() -> None:
    """A pod with required pod affinity is packed by the predicates that are modelled."""
    affine = pod("p", cpu=1, unmodelled=["required pod affinity"])
    assert estimate_scale_up([affine], [node("a")]).placements == {"a": (affine,)}
