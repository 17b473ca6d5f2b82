"""The actuator reads ``retriable``: a network blip backs off, a wrong password is held."""

from __future__ import annotations

import pytest

from controller.planning import Action, ActionKind, MachineState
from controller.planning.eligibility import BACKOFF_CEILING, backoff_seconds
from controller.power import PowerError
from controller.power.errors import Category
from tests.controller.test_actuation import CFG, Rig
from tests.planning.builders import config
from tests.power.fakes import FakeDriver

POWER_ON = Action(ActionKind.POWER_ON, "a", "general", "pending pods")


def _fail_next_power_on(rig: Rig, category: Category, *, retriable: bool | None = None) -> None:
    driver = rig.drivers.setdefault("a", FakeDriver(machine="a"))
    driver.failures["on"] = PowerError(f"{category} failure", category=category,
                                       retriable=retriable, driver="fake", machine="a")


@pytest.mark.parametrize("category", ["auth", "unsupported", "rejected"])
async def test_a_permanent_failure_holds_the_machine_for_the_longest_backoff(
        category: Category) -> None:
    rig = Rig(CFG)
    _fail_next_power_on(rig, category)
    await rig.actuator.execute(POWER_ON)
    record = rig.records["a"]
    assert record.state is MachineState.ERROR
    assert record.failures == 1
    assert record.backoff_until == rig.clock.now + BACKOFF_CEILING
    assert record.last_error.startswith(f"power on: a: fake: {category} failure")
    assert record.last_error.endswith(f"(permanent: {category}; held 3600s)")
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]


@pytest.mark.parametrize("category", ["unreachable", "timeout"])
async def test_a_transient_failure_backs_off_doubling(category: Category) -> None:
    rig = Rig(CFG)
    holds = []
    for _ in range(3):
        _fail_next_power_on(rig, category)
        await rig.actuator.execute(POWER_ON)
        record = rig.records["a"]
        holds.append(record.backoff_until - rig.clock.now)
        assert "permanent" not in record.last_error
        rig.clock.now = record.backoff_until  # the planner may try it again
    assert holds == [60.0, 120.0, 240.0]


async def test_a_machine_held_for_a_wrong_password_is_not_chosen_until_the_hold_ends() -> None:
    rig = Rig(config(machines={"a": "small"}))
    _fail_next_power_on(rig, "auth")
    await rig.actuator.execute(POWER_ON)
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    rig.clock.now = rig.records["a"].backoff_until - 1.0
    assert rig.reactor.plan_once().actions == ()
    assert rig.calls("a") == ["on"]  # the failed call only: nothing was sent meanwhile
    rig.clock.now += 1.0
    assert [action.machine for action in rig.reactor.plan_once().actions] == ["a"]
    await rig.settle()
    assert rig.records["a"].state is MachineState.READY


async def test_retriable_overrides_the_category_default() -> None:
    rig = Rig(CFG)
    _fail_next_power_on(rig, "rejected", retriable=True)  # "BMC busy, try again"
    await rig.actuator.execute(POWER_ON)
    assert rig.records["a"].backoff_until == rig.clock.now + backoff_seconds(1)
