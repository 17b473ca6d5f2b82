"""The power sync with recording drivers: drift adopted or restored, reads bounded,
moving machines left alone, failures counted towards quarantine and probes releasing it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from controller.config import AutoscalerConfig, ConfigError, MachineSpec, load_config_text
from controller.config.loading import dump_yaml
from controller.machines import MachineRecord
from controller.planning import MachineState
from controller.planning.eligibility import QUARANTINED
from controller.power import PowerError, PowerOperation, PowerState
from controller.powersync import PowerSync, recorded_power
from tests.controller.test_actuation import Rig
from tests.planning.builders import config
from tests.power.fakes import FakeDriver


@dataclass
class Events:
    """Records every Event as (machine, reason, message, warning)."""

    seen: list[tuple[str, str, str, bool]] = field(default_factory=list)

    async def machine_event(self, machine: MachineSpec, reason: str, message: str, *,
                            warning: bool = False) -> None:
        self.seen.append((machine.name, reason, message, warning))

    def reasons(self, machine: str) -> list[str]:
        return [reason for name, reason, _, _ in self.seen if name == machine]


def tuned(cfg: AutoscalerConfig, **sections: dict[str, object]) -> AutoscalerConfig:
    """cfg with powerSync / quarantine sections set, validated like a real document."""
    document = cfg.model_dump(by_alias=True, mode="json")
    document.update(sections)
    return load_config_text(dump_yaml(document))


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


class SyncRig(Rig):
    def __init__(self, cfg: AutoscalerConfig, records: dict[str, MachineRecord] | None = None,
                 ) -> None:
        super().__init__(cfg, records)
        self.cfg = cfg
        self.events = Events()
        self.actuator.events = self.events
        self.sleeps = Sleeps()
        self.sync = PowerSync(config=lambda: self.cfg, actuator=self.actuator,
                              power_for=self.power_for, busy=self.reactor.busy,
                              restore=self.reactor.restore_power, events=self.events,
                              metrics=self.metrics, clock=self.clock, sleep=self.sleeps)

    def driver(self, name: str, state: PowerState) -> FakeDriver:
        driver = self.drivers[name] = FakeDriver(machine=name, state=state)
        return driver

    def drift(self, machine: str, observed: str, recorded: str) -> float:
        return float(self.metrics.power_drift.labels(machine, observed, recorded)._value.get())


READY = MachineRecord(state=MachineState.READY, since=500.0, power_state="on",
                      kubernetes_node="node-a")
OFF = MachineRecord(state=MachineState.OFF, since=500.0, power_state="off")
CFG = config(machines={"a": "small"})


async def test_a_ready_machine_switched_off_by_a_person_is_adopted_as_off() -> None:
    rig = SyncRig(CFG, {"a": READY})
    rig.driver("a", PowerState.OFF)
    await rig.sync.sync_once()
    record = rig.records["a"]
    assert (record.state, record.power_state, record.kubernetes_node) == (
        MachineState.OFF, "off", "")
    assert record.last_action == "adopted power-off"
    assert rig.store.read()["a"] == record  # type: ignore[attr-defined]
    assert rig.events.reasons("a") == ["PowerStateDrift"]
    _, _, message, warning = rig.events.seen[0]
    assert warning and "power is off but the record says on" in message
    assert "adopted" in message
    assert rig.drift("a", "off", "on") == 1
    assert rig.calls("a") == ["status"]  # adopt never sends a power command


async def test_an_off_machine_switched_on_is_left_on_and_noticed_once() -> None:
    rig = SyncRig(CFG, {"a": OFF})
    rig.driver("a", PowerState.ON)
    rig.clock.now += await rig.sync.sync_once()
    await rig.sync.sync_once()
    record = rig.records["a"]
    assert (record.state, record.power_state) == (MachineState.OFF, "on")
    assert rig.events.reasons("a") == ["PowerStateDrift"]
    assert rig.drift("a", "on", "off") == 1
    assert rig.calls("a") == ["status", "status"]


async def test_restore_powers_a_ready_machine_back_on() -> None:
    rig = SyncRig(tuned(CFG, powerSync={"policy": "restore"}), {"a": READY})
    rig.driver("a", PowerState.OFF)
    await rig.sync.sync_once()
    await rig.settle()
    assert rig.calls("a") == ["status", "on"]
    record = rig.records["a"]
    assert (record.state, record.power_state, record.power_result) == (
        MachineState.READY, "on", "ok")
    assert rig.events.reasons("a") == ["PowerStateDrift", "PowerStateRestored"]


async def test_restore_shuts_down_an_off_machine_a_person_switched_on() -> None:
    rig = SyncRig(tuned(CFG, powerSync={"policy": "restore"}), {"a": OFF})
    rig.driver("a", PowerState.ON)
    await rig.sync.sync_once()
    await rig.settle()
    assert rig.calls("a") == ["status", "off"]
    assert (rig.records["a"].state, rig.records["a"].power_state) == (MachineState.OFF, "off")


@pytest.mark.parametrize("state", [MachineState.POWERING_ON, MachineState.JOINING,
                                   MachineState.DRAINING, MachineState.POWERING_OFF])
async def test_a_machine_on_its_way_is_not_read(state: MachineState) -> None:
    rig = SyncRig(CFG, {"a": MachineRecord(state=state, since=900.0)})
    rig.driver("a", PowerState.OFF)
    await rig.sync.sync_once()
    assert rig.calls("a") == []
    assert rig.records["a"].state is state


async def test_a_machine_an_action_owns_is_not_read_nor_written() -> None:
    rig = SyncRig(CFG, {"a": READY})
    rig.driver("a", PowerState.OFF)
    rig.sync._busy = lambda name: True  # the reactor's answer while an action runs
    await rig.sync.sync_once()
    assert rig.calls("a") == [] and rig.records["a"] == READY


async def test_an_action_starting_during_the_read_wins() -> None:
    rig = SyncRig(CFG, {"a": READY})
    driver = rig.driver("a", PowerState.OFF)
    busy = {"a": False}
    rig.sync._busy = lambda name: busy[name]

    async def status() -> PowerState:
        busy["a"] = True  # the reactor started an action meanwhile
        return PowerState.OFF
    driver.status = status  # type: ignore[method-assign]
    await rig.sync.sync_once()
    assert rig.records["a"] == READY  # the read is dropped, not written over the action


class OnOnly(FakeDriver):
    """Wake-on-LAN's shape: switches on, cannot read power."""

    capabilities = frozenset({PowerOperation.ON})


async def test_a_driver_that_cannot_read_power_is_skipped_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = SyncRig(CFG, {"a": OFF})
    rig.drivers["a"] = OnOnly(machine="a")
    caplog.set_level(logging.INFO, logger="controller.powersync")
    for _ in range(3):
        await rig.sync.sync_once()
    said = [r.getMessage() for r in caplog.records if "cannot read power" in r.getMessage()]
    assert said == ["a: fake and fake cannot read power state: not synced"]
    assert rig.calls("a") == [] and rig.records["a"] == OFF


async def test_a_quarantined_machine_that_cannot_be_read_is_released_at_its_probe() -> None:
    rig = SyncRig(CFG, {"a": MachineRecord(state=MachineState.ERROR, since=500.0,
                                           bmc_failures=5, quarantined=True)})
    rig.drivers["a"] = OnOnly(machine="a")
    await rig.sync.sync_once()
    assert (rig.records["a"].quarantined, rig.records["a"].bmc_failures) == (False, 0)
    assert rig.events.reasons("a") == ["QuarantineReleased"]
    assert "its next power call is the probe" in rig.events.seen[0][2]


class Counting(FakeDriver):
    """Counts status reads in flight at once."""

    running = 0
    most = 0

    async def status(self) -> PowerState:
        Counting.running += 1
        Counting.most = max(Counting.most, Counting.running)
        await asyncio.sleep(0.01)
        Counting.running -= 1
        return self.state


async def test_reads_are_bounded_in_concurrency_and_rate() -> None:
    names = [f"m{index}" for index in range(10)]
    cfg = tuned(config(machines=dict.fromkeys(names, "small")),
                powerSync={"maxConcurrent": 3, "readsPerSecond": 5})
    rig = SyncRig(cfg)
    for name in names:
        rig.drivers[name] = Counting(machine=name)
    await rig.sync.sync_once()
    assert Counting.most == 3
    assert rig.sleeps.slept == [0.2] * 9  # one gap before each read after the first


async def test_each_machine_is_read_once_per_interval() -> None:
    rig = SyncRig(tuned(config(machines={"a": "small", "b": "small"}),
                        powerSync={"interval": "2m"}))
    assert await rig.sync.sync_once() == 120.0
    rig.clock.now += 60.0
    assert await rig.sync.sync_once() == 60.0  # nothing due yet: the wait that remains
    assert rig.calls("a") == rig.calls("b") == ["status"]
    rig.clock.now += 60.0
    await rig.sync.sync_once()
    assert rig.calls("a") == ["status", "status"]


async def test_interval_zero_turns_the_sync_off() -> None:
    rig = SyncRig(tuned(CFG, powerSync={"interval": 0}), {"a": READY})
    rig.driver("a", PowerState.OFF)
    await rig.sync.sync_once()
    assert rig.calls("a") == []


def unreachable(name: str) -> PowerError:
    return PowerError("BMC did not answer", category="unreachable", driver="fake", machine=name)


async def test_failed_reads_are_shown_and_quarantine_after_n_then_a_probe_releases() -> None:
    cfg = tuned(CFG, quarantine={"afterFailures": 3, "probeInterval": "10m"})
    rig = SyncRig(cfg, {"a": OFF})
    driver = rig.driver("a", PowerState.OFF)
    waits = []
    for _ in range(3):
        driver.failures["status"] = unreachable("a")
        waits.append(await rig.sync.sync_once())
        rig.clock.now += waits[-1]
    record = rig.records["a"]
    assert (record.bmc_failures, record.quarantined, record.state) == (3, True, MachineState.OFF)
    assert rig.events.reasons("a") == ["PowerStatusFailed"] * 3 + ["Quarantined"]
    assert waits == [60.0, 60.0, 600.0]  # quarantined: probed at the slow interval
    assert rig.metrics.status_reads.labels("a", "unreachable")._value.get() == 3
    assert rig.metrics.quarantined.labels("a")._value.get() == 1
    rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
    decision = rig.reactor.plan_once()
    assert decision.actions == ()
    assert decision.records[0].excluded == {"a": QUARANTINED}
    await rig.sync.sync_once()  # the probe answers
    record = rig.records["a"]
    assert (record.bmc_failures, record.quarantined) == (0, False)
    assert rig.events.reasons("a")[-1] == "QuarantineReleased"
    assert rig.metrics.quarantined.labels("a")._value.get() == 0
    assert rig.metrics.quarantines.labels("a", "released")._value.get() == 1
    assert [action.machine for action in rig.reactor.plan_once().actions] == ["a"]


async def test_failed_power_calls_quarantine_and_a_good_call_resets_the_count() -> None:
    cfg = tuned(CFG, quarantine={"afterFailures": 2})
    rig = SyncRig(cfg, {"a": OFF})
    driver = rig.driver("a", PowerState.OFF)
    from controller.planning import Action, ActionKind
    power_on = Action(ActionKind.POWER_ON, "a", "general", "pending pods")
    driver.failures["on"] = unreachable("a")
    await rig.actuator.execute(power_on)
    assert (rig.records["a"].bmc_failures, rig.records["a"].quarantined) == (1, False)
    await rig.sync.sync_once()  # answers, but a failed call is outstanding: still counts
    assert rig.records["a"].bmc_failures == 1
    await rig.actuator.execute(power_on)  # goes through
    assert (rig.records["a"].state, rig.records["a"].bmc_failures) == (MachineState.READY, 0)
    rig.records["a"] = OFF
    for _ in range(2):
        driver.failures["on"] = unreachable("a")
        await rig.actuator.execute(power_on)
    record = rig.records["a"]
    assert (record.state, record.bmc_failures, record.quarantined) == (
        MachineState.ERROR, 2, True)
    assert rig.events.reasons("a")[-2:] == ["PowerFailed", "Quarantined"]


def test_recorded_power_comes_from_settled_states_only() -> None:
    assert recorded_power(READY) is PowerState.ON
    assert recorded_power(MachineRecord()) is PowerState.OFF  # never read: off by its state
    assert recorded_power(MachineRecord(state=MachineState.ERROR, power_state="on")) is None


def document(**sections: object) -> str:
    return dump_yaml({"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
                      "pools": [{"name": "general"}], **sections})


@pytest.mark.parametrize(("sections", "problem"), [
    ({"powerSync": {"interval": "5s"}},
     "powerSync.interval: 5 is below 10 (0 turns the sync off)"),
    ({"powerSync": {"policy": "fight"}},
     "powerSync.policy: 'fight' is not one of 'adopt' or 'restore'"),
    ({"powerSync": {"maxConcurrent": 0}}, "powerSync.maxConcurrent: 0 is below 1"),
    ({"quarantine": {"afterFailures": 0}}, "quarantine.afterFailures: 0 is below 1"),
    ({"quarantine": {"probeInterval": 0}}, "quarantine.probeInterval: 0.0 is not above 0.0"),
])
def test_bad_settings_name_their_field(sections: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(document(**sections))
    assert caught.value.problems == [problem]


def test_defaults_adopt_every_minute_and_quarantine_after_five() -> None:
    cfg = load_config_text(document())
    assert (cfg.power_sync.interval, cfg.power_sync.policy) == (60.0, "adopt")
    assert (cfg.power_sync.max_concurrent, cfg.power_sync.reads_per_second) == (4, 10.0)
    assert (cfg.quarantine.after_failures, cfg.quarantine.probe_interval) == (5, 300.0)
