"""What keeps a node on: the rules that block evicting its pods, and disruption budgets.

One owner for these rules: the scale-down simulation (``scaledown.py``) applies them
to decide which nodes may be offered for power-off, and the drain
(``controller/kube/draining.py``) applies the same functions before it evicts
anything, so a node the planner offers is never one the drain would refuse for a
rule the planner did not know.

The annotations are ours and the ones users already write for other autoscalers,
so that moving a cluster to bamel does not silently drop a person's explicit no:
``bamel.io/safe-to-evict`` and ``cluster-autoscaler.kubernetes.io/safe-to-evict``
(``"false"``: never evict; ``"true"``: evict even a pod the soft rules below would
keep), ``karpenter.sh/do-not-disrupt: "true"`` on a pod, and
``bamel.io/scale-down-disabled`` or ``cluster-autoscaler.kubernetes.io/scale-down-disabled``
on the node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.config.schema import PoolSpec
from controller.planning.pods import LabelSelector, Pod

SAFE_TO_EVICT = "bamel.io/safe-to-evict"
CA_SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SCALE_DOWN_DISABLED = "bamel.io/scale-down-disabled"
CA_SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
MIRROR = "kubernetes.io/config.mirror"
SYSTEM_NAMESPACE = "kube-system"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class EvictionRules:
    """The configurable rules; defaults as in the Cluster Autoscaler."""

    allow_empty_dir: bool = False
    """emptyDir data dies with the pod; a pool may declare its emptyDirs scratch."""
    system_pods_need_budget: bool = True
    """A kube-system pod with no PodDisruptionBudget keeps its node."""
    unmodelled_blocks: bool = True
    """A pod with a required constraint the simulation cannot check (``Pod.unmodelled``)
    keeps its node: the simulation could not show it has somewhere to go."""

    @classmethod
    def of_pool(cls, pool: PoolSpec) -> EvictionRules:
        return cls(allow_empty_dir=pool.scale_down.allow_empty_dir,
                   system_pods_need_budget=pool.scale_down.skip_nodes_with_system_pods)


DEFAULT_RULES = EvictionRules()


@dataclass(frozen=True)
class DisruptionBudget:
    """A PodDisruptionBudget as the Eviction API applies it, at one instant."""

    namespace: str
    name: str
    selector: LabelSelector | None
    """None selects no pod (a null selector, or an empty one in policy/v1beta1)."""
    disruptions_allowed: int
    """``status.disruptionsAllowed``: evictions the API server grants now."""

    def covers(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return (namespace == self.namespace and self.selector is not None
                and self.selector.matches(labels))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def evicted(pods: Iterable[Pod]) -> list[Pod]:
    """The pods a drain evicts: not DaemonSet and mirror (static) pods, which belong
    to the node and go away with it, nor finished pods, which hold nothing."""
    return [pod for pod in pods
            if not ((pod.owner is not None and pod.owner.kind == "DaemonSet")
                    or MIRROR in pod.annotations or pod.phase in TERMINAL_PHASES)]


def goes_with_node(pod: Pod) -> bool:
    """Whether the pod stays with its node rather than being evicted (``evicted``)."""
    return not evicted((pod,))


def node_blocker(annotations: Mapping[str, str]) -> str | None:
    """A person's explicit no on the node itself."""
    if SCALE_DOWN_DISABLED in annotations:
        return f"node is annotated {SCALE_DOWN_DISABLED}"
    if annotations.get(CA_SCALE_DOWN_DISABLED) == "true":
        return f"node is annotated {CA_SCALE_DOWN_DISABLED}=true"
    return None


def declared_safe(pod: Pod) -> bool:
    """``safe-to-evict: "true"``: the pod may go though a soft rule would keep it."""
    annotations = pod.annotations
    return "true" in (annotations.get(SAFE_TO_EVICT), annotations.get(CA_SAFE_TO_EVICT))


def pod_blocker(pod: Pod, *, allow_empty_dir: bool) -> str | None:
    """Why this pod must not be evicted, from the pod alone; None if it may be."""
    annotations = pod.annotations
    if annotations:
        for key in (SAFE_TO_EVICT, CA_SAFE_TO_EVICT):
            if annotations.get(key) == "false":
                return f"pod {pod.key} is annotated {key}=false"
        if annotations.get(DO_NOT_DISRUPT) == "true":
            return f"pod {pod.key} is annotated {DO_NOT_DISRUPT}=true"
        if declared_safe(pod):
            return None
    if pod.owner is None:
        return f"pod {pod.key} has no controller and would not be recreated"
    for volume in pod.volumes:
        if volume.kind == "hostPath" or (volume.kind == "emptyDir" and not allow_empty_dir):
            return f"pod {pod.key} uses {volume.kind} local storage"
    return None


def unremarkable(pod: Pod) -> bool:
    """Nothing on the pod that a rule reads but how many budgets cover it: no
    annotations, volumes or unmodelled constraints, a controller, and a namespace
    other than kube-system. Most pods."""
    return not (pod.annotations or pod.volumes or pod.unmodelled) \
        and pod.owner is not None and pod.namespace != SYSTEM_NAMESPACE


def eviction_blocker(pod: Pod, *, rules: EvictionRules, budgets: int) -> str | None:
    """Every rule for one pod, given how many budgets cover it."""
    return eviction_blockers([((pod,), budgets, not unremarkable(pod))], rules=rules)


def eviction_blockers(groups: Iterable[tuple[Sequence[Pod], int, bool]], *,
                      rules: EvictionRules) -> str | None:
    """The first reason not to evict a pod of groups of pods. Each group comes with
    the number of budgets covering its pods, and whether any of them is not
    ``unremarkable``: a group of unremarkable pods under at most one budget is passed
    over without looking at its pods."""
    for pods, budgets, remarkable in groups:
        if not remarkable and budgets <= 1:
            continue
        for pod in pods:
            reason = _eviction_blocker(pod, rules=rules, budgets=budgets)
            if reason is not None:
                return reason
    return None


def _eviction_blocker(pod: Pod, *, rules: EvictionRules, budgets: int) -> str | None:
    reason = pod_blocker(pod, allow_empty_dir=rules.allow_empty_dir)
    if reason is not None:
        return reason
    if budgets > 1:
        return (f"pod {pod.key} is covered by {budgets} PodDisruptionBudgets; "
                "the Eviction API refuses to evict it")
    if declared_safe(pod):
        return None
    if rules.system_pods_need_budget and budgets == 0 and pod.namespace == SYSTEM_NAMESPACE:
        return f"pod {pod.key} is a kube-system pod without a PodDisruptionBudget"
    if rules.unmodelled_blocks and pod.unmodelled:
        return (f"pod {pod.key} has a constraint the simulation does not model "
                f"({'; '.join(pod.unmodelled)})")
    return None


def drain_refusal(annotations: Mapping[str, str], pods: Iterable[Pod], *,
                  allow_empty_dir: bool) -> str | None:
    """Why a drain must not start, from the node's annotations and pods alone.

    Budgets are the Eviction API's to enforce during the drain; the rules that need
    them (kube-system pods, budgets allowing too few) are the planner's, before.
    """
    reason = node_blocker(annotations)
    if reason is not None:
        return reason
    for pod in evicted(pods):
        reason = pod_blocker(pod, allow_empty_dir=allow_empty_dir)
        if reason is not None:
            return reason
    return None


class BudgetIndex:
    """Which budgets cover a pod, found through the namespace and one label.

    Budgets are indexed by namespace, and within it by the first ``In`` requirement
    of their selector (a ``matchLabels`` pair, usually): a pod is checked only
    against the budgets of its namespace that name one of its labels, and those
    whose selectors have no such requirement.
    """

    def __init__(self, budgets: Sequence[DisruptionBudget]) -> None:
        self.budgets = list(budgets)
        self._by_label: dict[tuple[str, str, str], list[int]] = {}
        self._unindexed: dict[str, list[int]] = {}
        for number, budget in enumerate(self.budgets):
            keys = _index_keys(budget)
            if keys is None:
                self._unindexed.setdefault(budget.namespace, []).append(number)
            for key in keys or ():
                self._by_label.setdefault(key, []).append(number)

    def covering(self, namespace: str, labels: Mapping[str, str]) -> tuple[int, ...]:
        """The numbers of the budgets covering a pod with these labels, in order."""
        found = set(self._unindexed.get(namespace, ()))
        for key, value in labels.items():
            found.update(self._by_label.get((namespace, key, value), ()))
        return tuple(sorted(n for n in found if self.budgets[n].covers(namespace, labels)))


def _index_keys(budget: DisruptionBudget) -> list[tuple[str, str, str]] | None:
    if budget.selector is None:
        return []
    for requirement in budget.selector.requirements:
        if requirement.operator == "In":
            return [(budget.namespace, requirement.key, value) for value in requirement.values]
    return None


def budget_blocker(budgets: Sequence[DisruptionBudget], counts: Mapping[int, int],
                   spent: Sequence[int] | None = None) -> str | None:
    """The first budget covering some of the node's pods (``counts[i]`` of them) that
    allows no disruption now, less ``spent[i]`` already planned in this pass.

    One disruption is enough to start: the drain evicts through the Eviction API and
    retries each refusal until the pool's drainTimeout, so a budget that allows one
    lets the pods go one at a time as their replacements become ready elsewhere (the
    simulation has found them room). A budget that allows none would refuse the
    first eviction, and the drain would only run out its time.
    """
    for number in sorted(counts):
        budget = budgets[number]
        allowed = budget.disruptions_allowed - (spent[number] if spent else 0)
        if allowed < 1:
            return (f"PodDisruptionBudget {budget.key} allows no disruption now; "
                    f"the node has {counts[number]} of its pods")
    return None
