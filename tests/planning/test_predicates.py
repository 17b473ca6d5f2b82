"""The scheduler's filters as pure predicates: hand-worked pods against hand-made nodes."""

from __future__ import annotations

from controller.planning.pods import HOSTNAME, NodeSelectorTerm, Requirement, Toleration
from controller.planning.predicates import fits, pool_reason, why_not
from controller.planning.templates import NodeTemplate, Taint
from tests.planning.scheduling import GiB, node, pod, spread, term

GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


def test_requests_of_every_resource_against_allocatable() -> None:
    box = node("n", cpu=4, memory=8 * GiB, gpu=1)
    assert why_not(pod("a", cpu=4, memory=8 * GiB, gpu=1), box) is None
    assert why_not(pod("a", cpu=4.001), box) == "Insufficient cpu"
    assert why_not(pod("a", memory=9 * GiB), box) == "Insufficient memory"
    assert why_not(pod("a", gpu=2), box) == "Insufficient nvidia.com/gpu"
    assert why_not(pod("a", gpu=1), node("cpu-only")) == "Insufficient nvidia.com/gpu"
    assert why_not(pod("a", extra={"bamel.io/network": 2e9}),
                   node("n", extra={"bamel.io/network": 1e9})) == "Insufficient bamel.io/network"


def test_what_is_placed_already_takes_its_room() -> None:
    box = node("n", cpu=4)
    assert fits(pod("a", cpu=2), box, [pod("b", cpu=2)])
    assert why_not(pod("a", cpu=2), box, [pod("b", cpu=2), pod("c", cpu=0.5)]) == \
        "Insufficient cpu"


def test_millicores_add_up_exactly() -> None:
    """Ten pods of 100m fill one core, as the scheduler counts in millicores."""
    tenth = [pod(f"p{i}", cpu=0.1) for i in range(10)]
    assert fits(tenth[0], node("n", cpu=1.0), tenth[1:])
    assert not fits(pod("one-more", cpu=0.001), node("n", cpu=1.0), tenth)


def test_pods_is_a_resource_too() -> None:
    assert why_not(pod("a"), node("n", pods=2), [pod("b"), pod("c")]) == "Too many pods"
    assert fits(pod("a"), node("n", pods=3), [pod("b"), pod("c")])


def test_ephemeral_storage_a_node_does_not_state_does_not_constrain() -> None:
    asks = pod("a", extra={"ephemeral-storage": 50e9})
    assert fits(asks, node("from-config"))
    assert why_not(asks, node("n", extra={"ephemeral-storage": 10e9})) == \
        "Insufficient ephemeral-storage"


def test_node_selector_needs_every_pair() -> None:
    box = node("n", labels={"disk": "ssd", "zone": "a"})
    assert fits(pod("a", selector={"disk": "ssd"}), box)
    assert why_not(pod("a", selector={"disk": "ssd", "zone": "b"}), box) == \
        "node(s) didn't match Pod's node affinity/selector"


def test_required_node_affinity_operators() -> None:
    box = node("n", labels={"zone": "a", "cores": "64"})
    cases = {
        ("zone", "In", ("a", "b")): True, ("zone", "In", ("b",)): False,
        ("zone", "NotIn", ("b",)): True, ("zone", "NotIn", ("a",)): False,
        ("missing", "NotIn", ("a",)): True,
        ("zone", "Exists", ()): True, ("missing", "Exists", ()): False,
        ("missing", "DoesNotExist", ()): True, ("zone", "DoesNotExist", ()): False,
        ("cores", "Gt", ("32",)): True, ("cores", "Gt", ("64",)): False,
        ("cores", "Lt", ("65",)): True, ("cores", "Lt", ("64",)): False,
        ("zone", "Gt", ("1",)): False,  # not an integer: no match
        ("missing", "Lt", ("1",)): False,
    }
    for expression, expected in cases.items():
        assert fits(pod("a", affinity=[term(expression)]), box) is expected, expression


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    box = node("n", labels={"zone": "a", "disk": "hdd"})
    both = term(("zone", "In", ("a",)), ("disk", "In", ("ssd",)))
    assert not fits(pod("a", affinity=[both]), box)
    assert fits(pod("a", affinity=[both, term(("disk", "In", ("hdd",)))]), box)


def test_an_empty_term_matches_no_node_and_fields_name_the_node() -> None:
    assert not fits(pod("a", affinity=[NodeSelectorTerm()]), node("n"))
    by_name = NodeSelectorTerm(fields=(Requirement("metadata.name", "In", ("n1",)),))
    assert fits(pod("a", affinity=[by_name]), node("n1"))
    assert not fits(pod("a", affinity=[by_name]), node("n2"))


def test_taints_keep_off_pods_that_do_not_tolerate_them() -> None:
    gpu = node("g", gpu=1, taints=[GPU_TAINT])
    assert why_not(pod("a"), gpu) == \
        "node(s) had untolerated taint {nvidia.com/gpu: present}"
    assert fits(pod("a", tolerations=[Toleration("nvidia.com/gpu", "Exists")]), gpu)
    assert fits(pod("a", tolerations=[Toleration("nvidia.com/gpu", "Equal", "present")]), gpu)
    assert not fits(pod("a", tolerations=[Toleration("nvidia.com/gpu", "Equal", "absent")]), gpu)
    assert fits(pod("a", tolerations=[Toleration(operator="Exists")]), gpu)
    wrong_effect = Toleration("nvidia.com/gpu", "Exists", effect="NoExecute")
    assert not fits(pod("a", tolerations=[wrong_effect]), gpu)


def test_prefer_no_schedule_does_not_filter_and_no_execute_does() -> None:
    assert fits(pod("a"), node("n", taints=[Taint("soft", "", "PreferNoSchedule")]))
    assert not fits(pod("a"), node("n", taints=[Taint("hard", "", "NoExecute")]))


def test_filters_are_tried_in_order_taints_first() -> None:
    gpu = node("g", cpu=1, labels={"pool": "gpu"}, taints=[GPU_TAINT])
    asks = pod("a", cpu=8, selector={"pool": "cpu"})
    assert str(why_not(asks, gpu)).startswith("node(s) had untolerated taint")
    tolerant = pod("a", cpu=8, selector={"pool": "cpu"},
                   tolerations=[Toleration(operator="Exists")])
    assert why_not(tolerant, gpu) == "node(s) didn't match Pod's node affinity/selector"


def test_then_resources_then_ports_then_anti_affinity() -> None:
    box = node("n", cpu=2)
    there = pod("x", cpu=1, labels={"app": "web"}, ports=[80])
    greedy = pod("a", cpu=2, labels={"app": "web"}, ports=[80], anti=[spread("web")])
    assert why_not(greedy, box, [there]) == "Insufficient cpu"
    modest = pod("a", cpu=1, labels={"app": "web"}, ports=[80], anti=[spread("web")])
    assert str(why_not(modest, box, [there])).startswith(
        "node(s) didn't have free ports for the requested pod ports")


def test_host_ports_clash_on_the_same_port_and_protocol() -> None:
    box = node("n")
    assert why_not(pod("a", ports=[8080]), box, [pod("x", ports=[8080])]) == \
        "node(s) didn't have free ports for the requested pod ports: 8080/TCP in use by " \
        "pod default/x"
    assert fits(pod("a", ports=[8080]), box, [pod("x", ports=[9090])])
    assert fits(pod("a", ports=[8080]), box, [pod("x")])


def test_required_anti_affinity_on_the_hostname_both_ways() -> None:
    box = node("n")
    web = {"app": "web"}
    replica = pod("b", labels=web, anti=[spread("web")])
    assert why_not(pod("a", labels=web, anti=[spread("web")]), box, [replica]) == \
        "node(s) didn't match pod anti-affinity rules: pod default/b"
    # a pod without terms of its own is kept off by the term of the pod already there
    assert why_not(pod("a", labels=web), box, [replica]) == \
        "node(s) didn't satisfy existing pods anti-affinity rules: pod default/b"
    assert fits(pod("a", labels={"app": "api"}), box, [replica])


def test_anti_affinity_selects_pods_in_its_namespaces_only() -> None:
    box = node("n")
    other = pod("x", namespace="other", labels={"app": "web"})
    assert fits(pod("a", anti=[spread("web", ["default"])]), box, [other])
    assert not fits(pod("a", anti=[spread("web", ["other"])]), box, [other])
    assert not fits(pod("a", anti=[spread("web", None)]), box, [other])


def test_a_pool_is_ruled_out_only_by_what_contradicts_its_own_labels_and_taints() -> None:
    pool = NodeTemplate("", {}, {"bamel.io/pool": "gpu"}, (Taint("dedicated", "gpu"),))
    tolerant = [Toleration("dedicated", "Equal", "gpu", "NoSchedule")]
    assert pool_reason(pod("a", selector={"bamel.io/pool": "gpu", HOSTNAME: "box-1"},
                           tolerations=tolerant).shape, pool) is None
    assert pool_reason(pod("b", selector={"disk": "nvme"}, tolerations=tolerant).shape,
                       pool) is None  # a label some machine may report
    assert pool_reason(pod("c", selector={"bamel.io/pool": "cpu"}, tolerations=tolerant).shape,
                       pool) is not None
    assert pool_reason(pod("d").shape, pool) is not None  # the pool's taint
    wrong = term(("bamel.io/pool", "In", ("cpu",)), ("disk", "In", ("nvme",)))
    assert pool_reason(pod("e", affinity=[wrong], tolerations=tolerant).shape, pool) is not None
    either = term(("disk", "Exists", ()))
    assert pool_reason(pod("f", affinity=[wrong, either], tolerations=tolerant).shape,
                       pool) is None
