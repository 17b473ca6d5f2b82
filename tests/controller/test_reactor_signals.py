"""What the reactor hands the planner about a pool's pressure: facts, which the planner
reads (a pool whose agents went silent is planned at its target level)."""

from __future__ import annotations

from controller.machines import MachineRecord
from controller.planning import MachineState
from tests.controller.test_actuation import CFG, Rig


async def test_a_pool_whose_agents_are_silent_is_planned_at_its_target_level() -> None:
    rig = Rig(CFG, {"a": MachineRecord(state=MachineState.READY, since=0.0,
                                       kubernetes_node="node-a")})
    signal = rig.reactor.snapshot().signals["general"]
    assert signal.unheard is not None
    assert signal.unheard.tolist() == [True, True, True, False]  # gpu has no agent level
    assert signal.levels.tolist() == [0.0, 0.0, 0.0, 0.0]
    record = rig.reactor.plan_once().records[0]
    assert record.levels == {"cpu": 0.4, "memory": 0.4, "network": 0.4, "gpu": 0.0}
    assert rig.metrics.pool_level.labels("general", "cpu")._value.get() == 0.4


async def test_a_pool_without_ready_nodes_is_not_silent() -> None:
    rig = Rig(CFG)
    assert rig.reactor.snapshot().signals["general"].unheard is None
