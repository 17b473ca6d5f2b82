"""The scale-down simulation: hand-worked clusters, and which node may go and why."""

from __future__ import annotations

from controller.planning.disruption import EvictionRules
from controller.planning.pods import Toleration
from controller.planning.scaledown import ScaleDownSimulator, check_nodes
from controller.planning.templates import Taint
from tests.planning.scheduling import GiB, budget, node, pod, spread, state

WEB = {"app": "web"}


def test_a_node_whose_pods_fit_elsewhere_may_go_and_says_where_they_would_run() -> None:
    verdicts = check_nodes([state(node("a", cpu=4), pod("x", cpu=1), pod("y", cpu=1)),
                            state(node("b", cpu=4), pod("z", cpu=1))])
    assert verdicts["a"].removable
    assert verdicts["a"].reason == "its 2 pod(s) fit on other nodes"
    assert verdicts["a"].destinations() == {"default/x": "b", "default/y": "b"}
    assert verdicts["b"].destinations() == {"default/z": "a"}


def test_a_lightly_used_node_whose_requests_fill_the_room_left_stays() -> None:
    """The issue's case: what the pods ask for, not what they use, must fit."""
    verdicts = check_nodes([state(node("a", cpu=4), pod("x", cpu=3)),
                            state(node("b", cpu=4), pod("y", cpu=2)),
                            state(node("c", cpu=4), pod("z", cpu=2))])
    assert not verdicts["a"].removable
    assert verdicts["a"].reason == ("pod default/x would have nowhere to go: "
                                    "0/2 nodes are available: 2 Insufficient cpu.")
    assert verdicts["b"].destinations() == {"default/y": "c"}


def test_pods_split_over_several_nodes_first_fit_largest_first() -> None:
    verdicts = check_nodes([state(node("a", cpu=8), pod("x", cpu=3), pod("y", cpu=3)),
                            state(node("b", cpu=4), pod("u", cpu=1)),
                            state(node("c", cpu=4), pod("v", cpu=1))])
    assert verdicts["a"].destinations() == {"default/x": "b", "default/y": "c"}
    assert [(target, [p.name for p in pods]) for target, pods in verdicts["a"].moves] == [
        ("b", ["x"]), ("c", ["y"])]


def test_node_filters_apply_to_the_pods_that_move() -> None:
    pinned = pod("x", cpu=1, selector={"disk": "ssd"})
    verdicts = check_nodes([state(node("a", labels={"disk": "ssd"}), pinned),
                            state(node("b")),
                            state(node("c", labels={"disk": "ssd"},
                                       taints=[Taint("dedicated", "db", "NoSchedule")]))])
    assert verdicts["a"].reason == (
        "pod default/x would have nowhere to go: 0/2 nodes are available: "
        "1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {dedicated: db}.")


def test_anti_affinity_keeps_a_replica_off_a_node_with_another() -> None:
    replica = [pod(f"web-{i}", cpu=1, labels=WEB, anti=[spread("web")]) for i in range(3)]
    spread_out = [state(node("a"), replica[0]), state(node("b"), replica[1]),
                  state(node("c"), replica[2])]
    assert not any(v.removable for v in check_nodes(spread_out).values())
    with_spare = check_nodes([*spread_out, state(node("d"))])
    assert with_spare["a"].destinations() == {"default/web-0": "d"}


def test_existing_pods_anti_affinity_keeps_a_plain_pod_away() -> None:
    guard = pod("guard", cpu=1, anti=[spread("web")])
    verdicts = check_nodes([state(node("a"), pod("web", labels=WEB)),
                            state(node("b"), guard)])
    assert verdicts["a"].reason.endswith(
        "1 node(s) didn't satisfy existing pods anti-affinity rules.")


def test_host_ports_in_use_elsewhere_keep_the_node() -> None:
    verdicts = check_nodes([state(node("a"), pod("x", ports=[443])),
                            state(node("b"), pod("y", ports=[443]))])
    assert verdicts["a"].reason.endswith(
        "1 node(s) didn't have free ports for the requested pod ports.")


def test_pods_moved_in_one_check_see_each_other() -> None:
    """Two pods of one node, each fitting the only other node alone, not both."""
    verdicts = check_nodes([state(node("a", cpu=4), pod("x", cpu=2), pod("y", cpu=2)),
                            state(node("b", cpu=4), pod("z", cpu=1))])
    assert not verdicts["a"].removable
    spread_pair = [pod(f"w{i}", labels=WEB, anti=[spread("web")]) for i in range(2)]
    verdicts = check_nodes([state(node("a"), *spread_pair), state(node("b")), state(node("c"))])
    assert set(verdicts["a"].destinations().values()) == {"b", "c"}


def test_daemonset_mirror_and_finished_pods_go_with_the_node() -> None:
    staying = [pod("ds", cpu=3, owner="DaemonSet"),
               pod("static", cpu=3, owner=None,
                   annotations={"kubernetes.io/config.mirror": "abc"}),
               pod("done", cpu=3, owner=None, phase="Succeeded")]
    verdicts = check_nodes([state(node("a"), *staying), state(node("b", cpu=1))])
    assert verdicts["a"].removable
    assert verdicts["a"].reason == "no pods to move"


def test_finished_pods_hold_no_room() -> None:
    verdicts = check_nodes([state(node("a", cpu=4), pod("x", cpu=3)),
                            state(node("b", cpu=4), pod("done", cpu=4, phase="Failed"))])
    assert verdicts["a"].destinations() == {"default/x": "b"}


def test_annotations_on_the_node_keep_it() -> None:
    for marks, said in [({"bamel.io/scale-down-disabled": ""},
                               "node is annotated bamel.io/scale-down-disabled"),
                              ({"cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"},
                               "node is annotated "
                               "cluster-autoscaler.kubernetes.io/scale-down-disabled=true")]:
        verdicts = check_nodes([state(node("a"), annotations=marks), state(node("b"))])
        assert verdicts["a"].reason == said
    ignored = {"cluster-autoscaler.kubernetes.io/scale-down-disabled": "false"}
    assert check_nodes([state(node("a"), annotations=ignored)])["a"].removable


def test_annotations_on_a_pod_keep_its_node() -> None:
    cases = {"bamel.io/safe-to-evict": "false",
             "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
             "karpenter.sh/do-not-disrupt": "true"}
    for key, value in cases.items():
        verdicts = check_nodes([state(node("a"), pod("x", annotations={key: value})),
                                state(node("b"))])
        assert verdicts["a"].reason == f"pod default/x is annotated {key}={value}"


def test_soft_rules_keep_a_node() -> None:
    rules = {
        "pod default/x has no controller and would not be recreated": pod("x", owner=None),
        "pod default/x uses emptyDir local storage": pod("x", volumes=[("tmp", "emptyDir")]),
        "pod default/x uses hostPath local storage": pod("x", volumes=[("h", "hostPath")]),
        "pod kube-system/x is a kube-system pod without a PodDisruptionBudget":
            pod("x", namespace="kube-system"),
        "pod default/x has a constraint the simulation does not model "
        "(required pod affinity)": pod("x", unmodelled=["required pod affinity"]),
    }
    for said, blocking in rules.items():
        assert check_nodes([state(node("a"), blocking), state(node("b"))])["a"].reason == said


def test_the_soft_rules_can_be_relaxed() -> None:
    relaxed = EvictionRules(allow_empty_dir=True, system_pods_need_budget=False,
                            unmodelled_blocks=False)
    for allowed in [pod("x", volumes=[("tmp", "emptyDir")]), pod("x", namespace="kube-system"),
                    pod("x", unmodelled=["topology spread on zone"])]:
        assert check_nodes([state(node("a"), allowed), state(node("b"))],
                           rules=relaxed)["a"].removable
    hostpath = pod("x", volumes=[("h", "hostPath")])
    assert not check_nodes([state(node("a"), hostpath), state(node("b"))],
                           rules=relaxed)["a"].removable


def test_safe_to_evict_true_overrides_the_soft_rules_but_not_the_room() -> None:
    safe = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
    for soft in [pod("x", owner=None, annotations=safe),
                 pod("x", volumes=[("h", "hostPath")], annotations=safe),
                 pod("x", namespace="kube-system", annotations=safe),
                 pod("x", unmodelled=["required pod affinity"], annotations=safe)]:
        assert check_nodes([state(node("a"), soft), state(node("b"))])["a"].removable
    too_big = pod("x", cpu=8, owner=None, annotations=safe)
    assert not check_nodes([state(node("a", cpu=8), too_big), state(node("b"))])["a"].removable


def test_a_kube_system_pod_with_a_budget_may_move() -> None:
    dns = pod("dns", namespace="kube-system", labels={"app": "dns"})
    verdicts = check_nodes([state(node("a"), dns), state(node("b"))],
                           [budget("dns", 1, namespace="kube-system")])
    assert verdicts["a"].removable


def test_every_budget_covering_the_nodes_pods_must_allow_a_disruption_now() -> None:
    cluster = [state(node("a"), pod("w1", labels=WEB), pod("w2", labels=WEB)),
               state(node("b"))]
    assert check_nodes(cluster, [budget("web", 2)])["a"].removable
    assert check_nodes(cluster, [budget("web", 1)])["a"].removable  # one at a time
    assert check_nodes(cluster, [budget("web", 0)])["a"].reason == (
        "PodDisruptionBudget default/web-pdb allows no disruption now; "
        "the node has 2 of its pods")
    other_namespace = budget("web", 0, namespace="other")
    assert check_nodes(cluster, [other_namespace])["a"].removable


def test_a_pod_under_two_budgets_cannot_be_evicted() -> None:
    web = pod("w", labels={"app": "web", "tier": "front"})
    both = [budget("web", 5), budget("web", 5)]
    reason = check_nodes([state(node("a"), web), state(node("b"))], both)["a"].reason
    assert reason == ("pod default/w is covered by 2 PodDisruptionBudgets; "
                      "the Eviction API refuses to evict it")


def test_nodes_removed_in_the_same_pass_are_no_targets() -> None:
    cluster = [state(node("a", cpu=4), pod("x", cpu=2)), state(node("b", cpu=4)),
               state(node("c", cpu=4))]
    assert check_nodes(cluster, removing=["b"])["a"].destinations() == {"default/x": "c"}
    assert not check_nodes(cluster, candidates=["a"], removing=["b", "c"])["a"].removable


def test_cordoned_nodes_take_only_the_pods_that_tolerate_the_cordon() -> None:
    cordon = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
    cluster = [state(node("a"), pod("x", cpu=1)), state(node("b", taints=[cordon]))]
    assert not check_nodes(cluster)["a"].removable
    tolerant = pod("x", cpu=1, tolerations=[Toleration(cordon.key, "Exists")])
    assert check_nodes([state(node("a"), tolerant), cluster[1]])["a"].removable


def test_removing_a_node_takes_room_the_next_check_sees() -> None:
    """Each of a and b fits on c alone; once a goes, b no longer does."""
    simulator = ScaleDownSimulator([state(node("a", cpu=4), pod("x", cpu=3)),
                                    state(node("b", cpu=4), pod("y", cpu=3)),
                                    state(node("c", cpu=4))])
    assert all(v.removable for name, v in simulator.check_all().items() if name != "c")
    assert simulator.remove("a").destinations() == {"default/x": "c"}
    assert not simulator.check("b").removable
    assert "a" not in simulator.check_all()
    refused = simulator.remove("b")
    assert not refused.removable
    assert "b" in simulator.check_all()


def test_a_simulation_leaves_the_node_states_as_they_were() -> None:
    cluster = [state(node("a", cpu=4), pod("x", cpu=3)), state(node("b", cpu=4), pod("y", cpu=3)),
               state(node("c", cpu=4))]
    ScaleDownSimulator(cluster).remove("a")
    fresh = ScaleDownSimulator(cluster)
    assert fresh.check("b").destinations() == {"default/y": "c"}
    assert fresh.check("c").reason == "no pods to move"


def test_removing_a_node_spends_its_budgets_and_its_pods_would_move_again() -> None:
    simulator = ScaleDownSimulator([state(node("a"), pod("w1", labels=WEB)),
                                    state(node("b"), pod("w2", labels=WEB)),
                                    state(node("c"))], [budget("web", 1)])
    assert simulator.remove("a").destinations() == {"default/w1": "b"}
    assert simulator.check("b").reason == (
        "PodDisruptionBudget default/web-pdb allows no disruption now; "
        "the node has 2 of its pods")


def test_memory_counts_as_much_as_cpu() -> None:
    verdicts = check_nodes([state(node("a", memory=16 * GiB), pod("x", memory=10 * GiB)),
                            state(node("b", memory=16 * GiB), pod("y", memory=7 * GiB))])
    assert verdicts["a"].reason.endswith("1 Insufficient memory.")
