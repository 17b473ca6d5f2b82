"""The reactor hands the planner the scheduler's view and reports the pods it left."""

from __future__ import annotations

from collections.abc import Mapping

from controller.machines import MachineRecord
from controller.planning import MachineState
from controller.planning.constraints import SchedulingView
from tests.controller.test_actuation import CFG, Rig
from tests.planning.scheduling import pod


def test_every_pass_reports_each_pools_unplaceable_pods_and_those_no_pool_admits() -> None:
    rig = Rig(CFG, {"b": MachineRecord(state=MachineState.JOINING, since=999.0,
                                       kubernetes_node="worker-b")})
    told: list[tuple[str, Mapping[str, str]]] = []
    stray, huge = pod("stray", cpu=1), pod("huge", cpu=1000)
    rig.reactor.see_cluster(lambda: SchedulingView(pending={"general": (huge,)},
                                                   unhostable=(stray,)),
                            lambda pool, pods: told.append((pool, dict(pods))))
    rig.reactor.set_pending("general", {"cpu": 1000.0}, pods=1)
    snapshot = rig.reactor.snapshot()
    assert snapshot.scheduling is not None
    assert set(snapshot.scheduling.templates) == {"a", "b"}
    assert snapshot.scheduling.templates["b"].name == "worker-b"  # the node it joined as
    assert snapshot.scheduling.arriving == ("b",)
    result = rig.reactor.plan_once()
    assert result.actions == ()
    assert [pool for pool, _ in told] == ["general", ""]
    assert "Insufficient cpu" in told[0][1]["default/huge"]
    assert told[1][1] == {"default/stray": "no pool's labels and taints admit it"}
