"""The ``wol`` driver sending to a real UDP listener on 127.0.0.1."""

from __future__ import annotations

import pytest

from controller.power import NO_CREDENTIALS, PowerError, build_driver
from lab.peers import WolListener, magic_packet
from tests.power.conftest import make_machine

pytestmark = pytest.mark.integration

MAC = "52:54:00:ab:cd:ef"


async def test_listener_gets_exactly_the_magic_packets(wol_listener: WolListener) -> None:
    settings = {"broadcast": "127.0.0.1", "port": wol_listener.port, "repeats": 3,
                "interval": 0.01}
    machine = make_machine({"driver": "wol", "settings": settings}, mac=MAC)
    driver = build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
    await driver.power_on()
    packets = await wol_listener.drain()
    assert packets == [magic_packet(MAC)] * 3
    assert len(packets[0]) == 102
    assert packets[0] == b"\xff" * 6 + bytes.fromhex("525400abcdef") * 16


async def test_settings_mac_overrides_the_machine(wol_listener: WolListener) -> None:
    other = "00-11-22-33-44-55"
    settings = {"mac": other, "broadcast": "127.0.0.1", "port": wol_listener.port,
                "repeats": 1, "interface": "127.0.0.1"}
    machine = make_machine({"driver": "wol", "settings": settings}, mac=MAC)
    await build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS).power_on()
    assert await wol_listener.drain() == [magic_packet(other)]


async def test_wol_cannot_switch_off_or_read_state() -> None:
    machine = make_machine({"driver": "wol"})
    driver = build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
    assert driver.capabilities == frozenset({"on"})
    for call in (driver.power_off(), driver.status()):
        with pytest.raises(PowerError) as caught:
            await call
        assert caught.value.category == "unsupported"
    with pytest.raises(PowerError, match="readiness"):
        await driver.status()


def test_wol_needs_a_mac() -> None:
    machine = make_machine({"driver": "wol"}, mac=None)
    with pytest.raises(PowerError, match="MAC"):
        build_driver(machine.power.on, machine=machine, credentials=NO_CREDENTIALS)
