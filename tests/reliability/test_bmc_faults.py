"""BMC faults against real peers: each failure is shown (an Event and a metric), a
permanent one is held at once, a transient one backs off, N in a row quarantine the
machine, and a probe that answers releases it with no one's help.

ipmi_sim is the BMC for an unreachable one (its process stopped, then started again),
a wrong password and a chassis that accepts the command and never changes. The
Redfish faults (HTTP 500, 501, a request that hangs, a service that flaps) come from
a small Redfish service in this file, a real HTTP server on loopback that answers
the driver's requests as a faulty BMC would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.machines import MachineRecord
from controller.planning import Action, ActionKind, MachineState
from controller.planning.eligibility import BACKOFF_CEILING, QUARANTINED
from lab.peers import IpmiSim
from tests.power.conftest import PASSWORD
from tests.reliability.bmcrig import BmcRig, fleet

pytestmark = pytest.mark.integration

POWER_ON = Action(ActionKind.POWER_ON, "m", "general", "pending pods")
OFF = MachineRecord(state=MachineState.OFF, since=1.0, power_state="off")


def ipmi(bmc: IpmiSim, **settings: Any) -> dict[str, Any]:
    return {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port, "timeout": 1,
                                           "pollInterval": 0.1, "powerTimeout": 5, **settings}}


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username="admin", password=PASSWORD) as sim:
        yield sim


def held(rig: BmcRig) -> float:
    """Seconds the machine's record holds it from the planner."""
    return rig.records["m"].backoff_until - rig.clock.now


async def test_unreachable_bmc_backs_off_is_quarantined_and_recovers_when_it_answers(
        bmc: IpmiSim, tmp_path: Path) -> None:
    rig = BmcRig(fleet(tmp_path, ipmi(bmc), quarantine={"afterFailures": 2}), {"m": OFF})
    try:
        bmc.kill_bmc()
        holds = []
        for _ in range(2):
            await rig.actuator.execute(POWER_ON)
            holds.append(held(rig))
            rig.clock.now = rig.records["m"].backoff_until
        assert holds == [60.0, 120.0]  # transient: a doubling backoff
        record = rig.records["m"]
        assert (record.state, record.bmc_failures, record.quarantined) == (
            MachineState.ERROR, 2, True)
        assert rig.events.reasons("m") == ["PowerFailed", "PowerFailed", "Quarantined"]
        assert rig.count(rig.metrics.power_actions, "ipmi", "on", "unreachable") == 2
        rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
        decision = rig.reactor.plan_once()
        assert decision.actions == () and decision.records[0].excluded == {"m": QUARANTINED}
        await rig.sync_now()  # the probe: still down
        assert rig.records["m"].quarantined
        assert rig.events.reasons("m")[-1] == "PowerStatusFailed"
        assert rig.count(rig.metrics.status_reads, "m", "unreachable") == 1
        bmc.revive_bmc()
        await rig.sync_now()  # it answers: released by itself
        assert (rig.records["m"].quarantined, rig.records["m"].bmc_failures) == (False, 0)
        assert rig.events.reasons("m")[-1] == "QuarantineReleased"
        assert [action.machine for action in rig.reactor.plan_once().actions] == ["m"]
        await rig.settle()
        assert rig.records["m"].state is MachineState.READY and bmc.power
        assert bmc.commands() == ["set power 1"]  # the failed calls never reached it
    finally:
        await rig.close()


async def test_wrong_password_is_held_at_once_not_retried_and_released_once_fixed(
        bmc: IpmiSim, tmp_path: Path) -> None:
    cfg = fleet(tmp_path, ipmi(bmc), password="not-it", quarantine={"afterFailures": 1})
    rig = BmcRig(cfg, {"m": OFF})
    try:
        await rig.actuator.execute(POWER_ON)
        record = rig.records["m"]
        assert record.state is MachineState.ERROR and held(rig) == BACKOFF_CEILING
        assert "(permanent: auth; held 3600s)" in record.last_error
        assert "not-it" not in record.last_error
        rig.reactor.set_pending("general", {"cpu": 4.0}, pods=1)
        for _ in range(5):  # passes over the next hour: nothing is sent again
            rig.clock.now += 600.0
            assert rig.reactor.plan_once().actions == ()
        assert rig.count(rig.metrics.power_actions, "ipmi", "on", "auth") == 1
        assert rig.events.reasons("m") == ["PowerFailed", "Quarantined"]
        fleet(tmp_path, ipmi(bmc))  # a person fixes the password in the credentials
        await rig.sync_now()
        assert not rig.records["m"].quarantined
        assert rig.events.reasons("m")[-1] == "QuarantineReleased"
    finally:
        await rig.close()


async def test_a_bmc_that_accepts_and_never_changes_times_out_then_quarantines(
        tmp_path: Path) -> None:
    with IpmiSim(username="admin", password=PASSWORD, delay_ms=600_000) as stuck:
        cfg = fleet(tmp_path, ipmi(stuck, powerTimeout=0.5), quarantine={"afterFailures": 2})
        rig = BmcRig(cfg, {"m": OFF})
        try:
            await rig.actuator.execute(POWER_ON)
            assert held(rig) == 60.0 and "not on after 0.5 s" in rig.records["m"].last_error
            await rig.sync_now()  # reads answer, yet the failed call still counts
            assert rig.records["m"].bmc_failures == 1
            rig.clock.now = rig.records["m"].backoff_until
            await rig.actuator.execute(POWER_ON)
            assert rig.records["m"].quarantined
            assert rig.count(rig.metrics.power_actions, "ipmi", "on", "timeout") == 2
            assert stuck.commands() == ["set power 1", "set power 1"]
        finally:
            await rig.close()


class FaultyRedfish:
    """One Redfish system whose reset answers ``reset`` (200 ... 501, or "hang") and
    whose every request answers 503 while ``down`` (a flapping BMC)."""

    def __init__(self) -> None:
        self.reset: int | str = 204
        self.down = False
        self.power = "Off"
        self.resets = 0
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._flap])
        system = "/redfish/v1/Systems/s1"
        async def root(_: web.Request) -> web.Response:
            return web.json_response({"Systems": {"@odata.id": "/redfish/v1/Systems"}})

        async def systems(_: web.Request) -> web.Response:
            return web.json_response({"Members": [{"@odata.id": system}]})

        async def one(_: web.Request) -> web.Response:
            return web.json_response({"Id": "s1", "PowerState": self.power})
        app.add_routes([web.get("/redfish/v1/", root), web.get("/redfish/v1/Systems", systems),
                        web.get(system, one),
                        web.post(system + "/Actions/ComputerSystem.Reset", self._reset)])
        return app

    @web.middleware
    async def _flap(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.down:
            return web.json_response({"error": {"message": "BMC busy"}}, status=503)
        response: web.StreamResponse = await handler(request)
        return response

    async def _reset(self, request: web.Request) -> web.Response:
        self.resets += 1
        if self.reset == "hang":
            await asyncio.sleep(3600)
        if self.reset == 204:
            self.power = "On" if (await request.json())["ResetType"] == "On" else "Off"
            return web.Response(status=204)
        return web.json_response({"error": {"message": f"reset failed ({self.reset})"}},
                                 status=int(self.reset))


@pytest.fixture
async def redfish() -> AsyncIterator[FaultyRedfish]:
    service = FaultyRedfish()
    runner = web.AppRunner(service.app(), shutdown_timeout=0.1)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        service.port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", service.port)
    await site.start()
    yield service
    await runner.cleanup()


def redfish_power(service: FaultyRedfish) -> dict[str, Any]:
    return {"driver": "redfish", "settings": {
        "url": f"http://127.0.0.1:{service.port}", "auth": "basic", "timeout": 0.5,
        "pollInterval": 0.05, "powerTimeout": 2}}


@pytest.mark.parametrize(("answer", "category", "hold"), [
    (500, "rejected", 60.0),
    (501, "unsupported", BACKOFF_CEILING),
    ("hang", "timeout", 60.0),
])
async def test_redfish_faults_are_shown_and_held_by_kind(
        redfish: FaultyRedfish, tmp_path: Path, answer: int | str, category: str,
        hold: float) -> None:
    redfish.reset = answer
    rig = BmcRig(fleet(tmp_path, redfish_power(redfish)), {"m": OFF})
    try:
        await asyncio.wait_for(rig.actuator.execute(POWER_ON), timeout=10)
        record = rig.records["m"]
        assert (record.state, held(rig), record.bmc_failures) == (MachineState.ERROR, hold, 1)
        assert rig.events.reasons("m") == ["PowerFailed"]
        assert rig.count(rig.metrics.power_actions, "redfish", "on", category) == 1
        assert redfish.resets == 1
    finally:
        await rig.close()


async def test_a_flapping_bmc_shows_every_failure_and_is_not_quarantined(
        redfish: FaultyRedfish, tmp_path: Path) -> None:
    rig = BmcRig(fleet(tmp_path, redfish_power(redfish), quarantine={"afterFailures": 2}),
                 {"m": OFF})
    try:
        for down in (True, False, True, False, True):
            redfish.down = down
            await rig.sync_now()
        assert rig.events.reasons("m") == ["PowerStatusFailed"] * 3
        assert rig.count(rig.metrics.status_reads, "m", "rejected") == 3
        assert rig.count(rig.metrics.status_reads, "m", "ok") == 2
        assert (rig.records["m"].bmc_failures, rig.records["m"].quarantined) == (1, False)
        redfish.down = False
        await rig.actuator.execute(POWER_ON)
        assert rig.records["m"].state is MachineState.READY and redfish.power == "On"
    finally:
        await rig.close()
