"""The ``redfish`` driver against a real sushy-emulator with basic auth and TLS.

The emulator applies a power change 1–11 s after the reset, so the slow tests work on
several systems at once and poll fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.power import Credentials, PowerError, PowerState, build_driver
from controller.power.redfish import RedfishDriver
from lab.peers import SushyEmulator, fake_systems
from lab.peers.process import free_port
from tests.power.conftest import CREDENTIALS, make_machine

pytestmark = pytest.mark.integration


def redfish_driver(emulator: SushyEmulator, system: str | None, *,
                   creds: Credentials = CREDENTIALS, **extra: Any) -> RedfishDriver:
    settings: dict[str, Any] = {"url": emulator.url, "pollInterval": 0.2, "powerTimeout": 30,
                                "timeout": 5}
    if system is not None:
        settings["system"] = system
    if emulator.ca_file is not None and "verifyTls" not in extra:
        settings["caBundle"] = str(emulator.ca_file)
    settings.update(extra)
    machine = make_machine({"driver": "redfish", "settings": settings})
    driver = build_driver(machine.power.on, machine=machine, credentials=creds)
    assert isinstance(driver, RedfishDriver)
    return driver


async def cycle(driver: RedfishDriver, *, force: bool) -> list[PowerState]:
    """On then off, recording the state seen after each."""
    seen = [await driver.status()]
    await driver.power_on()
    seen.append(await driver.status())
    await driver.power_off(force=force)
    seen.append(await driver.status())
    await driver.close()
    return seen


async def test_on_then_off_polls_to_the_final_state(redfish_tls: SushyEmulator) -> None:
    by_uuid = redfish_driver(redfish_tls, redfish_tls.systems[0].uuid)
    by_uuid_upper = redfish_driver(redfish_tls, redfish_tls.systems[1].uuid.upper())
    forced, graceful = await asyncio.gather(cycle(by_uuid, force=True),
                                            cycle(by_uuid_upper, force=False))
    expected = [PowerState.OFF, PowerState.ON, PowerState.OFF]
    assert forced == expected and graceful == expected
    log = redfish_tls.log_text()
    for system in redfish_tls.systems[:2]:  # one reset on, one off: no more
        assert log.count(f"POST /redfish/v1/Systems/{system.uuid}/Actions/") == 2


async def test_reset_type_not_allowed_is_unsupported(redfish_tls: SushyEmulator) -> None:
    driver = redfish_driver(redfish_tls, redfish_tls.systems[2].uuid,
                            offResetTypes=["PowerCycle"], onResetTypes=["PushPowerButton"])
    try:
        with pytest.raises(PowerError) as caught:
            await driver.power_on()
        assert caught.value.category == "unsupported" and not caught.value.retriable
        assert "ForceOff" in str(caught.value)  # says what the system allows
        for refused in ("Nmi", "Bogus"):  # listed but not implemented; unknown: HTTP 501
            with pytest.raises(PowerError) as caught:
                await driver.reset(refused)
            assert caught.value.category == "unsupported"
            assert "501" in str(caught.value)
        assert await driver.status() == PowerState.OFF
    finally:
        await driver.close()


async def test_self_signed_certificate_is_refused_by_default(
    redfish_tls: SushyEmulator,
) -> None:
    system = redfish_tls.systems[3].uuid
    untrusted = redfish_driver(redfish_tls, system, verifyTls=True)
    with pytest.raises(PowerError) as caught:
        await untrusted.status()
    await untrusted.close()
    assert caught.value.category == "auth" and not caught.value.retriable
    assert "certificate" in str(caught.value)
    for trusting in (redfish_driver(redfish_tls, system),  # the CA bundle
                     redfish_driver(redfish_tls, system, verifyTls=False)):
        assert await trusting.status() == PowerState.OFF
        await trusting.close()


async def test_wrong_password_is_an_auth_error(redfish_tls: SushyEmulator) -> None:
    driver = redfish_driver(redfish_tls, redfish_tls.systems[3].uuid,
                            creds=Credentials(username="admin", password="guess"))
    with pytest.raises(PowerError) as caught:
        await driver.status()
    await driver.close()
    assert caught.value.category == "auth" and "401" in str(caught.value)
    assert "guess" not in str(caught.value)


async def test_system_must_be_named_when_there_are_several(redfish_tls: SushyEmulator) -> None:
    for system, match in ((None, "4 systems"), ("no-such-system", "no system")):
        driver = redfish_driver(redfish_tls, system)
        with pytest.raises(PowerError, match=match) as caught:
            await driver.status()
        await driver.close()
        assert caught.value.category == "rejected"


async def test_only_member_over_plain_http_without_sessions() -> None:
    with SushyEmulator(fake_systems(1, power_state="On"), username="root",
                       password="pw") as single:
        creds = Credentials(username="root", password="pw")
        auto = redfish_driver(single, None, creds=creds)
        assert await auto.status() == PowerState.ON
        await auto.close()
        session_only = redfish_driver(single, None, creds=creds, auth="session")
        with pytest.raises(PowerError) as caught:
            await session_only.status()
        await session_only.close()
        assert caught.value.category == "unsupported"


async def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    machine = make_machine({"driver": "redfish", "settings": {"url": url, "timeout": 2}})
    driver = build_driver(machine.power.on, machine=machine, credentials=CREDENTIALS)
    with pytest.raises(PowerError) as caught:
        await driver.status()
    await driver.close()
    assert caught.value.category == "unreachable" and caught.value.retriable
