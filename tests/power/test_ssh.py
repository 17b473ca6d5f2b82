"""The ``ssh`` driver against a real sshd whose forced command records what arrives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.power import Credentials, PowerError, build_driver
from controller.power.ssh import SshDriver
from lab.peers import Sshd
from lab.peers.process import free_port
from tests.power.conftest import make_machine

pytestmark = pytest.mark.integration


def ssh_driver(sshd: Sshd, creds: Credentials, **settings: Any) -> SshDriver:
    base = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "connectTimeout": 5}
    machine = make_machine({"driver": "wol"}, {"driver": "ssh", "settings": base | settings})
    driver = build_driver(machine.power.off, machine=machine, credentials=creds)
    assert isinstance(driver, SshDriver)
    return driver


def trusted(sshd: Sshd, tmp_path: Path) -> str:
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line + "\n")
    return str(path)


async def test_the_exact_shutdown_command_arrives(sshd: Sshd, tmp_path: Path) -> None:
    driver = ssh_driver(sshd, Credentials(private_key=sshd.client_key),
                        knownHosts=trusted(sshd, tmp_path))
    await driver.power_off()
    await driver.power_off(force=True)
    assert sshd.commands() == ["systemctl poweroff", "systemctl poweroff --force"]


async def test_configured_command_and_known_hosts_from_credentials(sshd: Sshd) -> None:
    creds = Credentials(private_key=sshd.client_key, known_hosts=sshd.known_hosts_line)
    driver = ssh_driver(sshd, creds, command="/sbin/shutdown -h +0 'bamel: idle'")
    await driver.power_off()
    assert sshd.commands() == ["/sbin/shutdown -h +0 'bamel: idle'"]


async def test_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    import asyncssh

    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    stranger = tmp_path / "known_hosts"
    stranger.write_text(f"[{sshd.host}]:{sshd.port} {impostor}")
    empty = tmp_path / "empty"
    empty.write_text("")
    for known_hosts in (str(stranger), str(empty)):
        driver = ssh_driver(sshd, Credentials(private_key=sshd.client_key),
                            knownHosts=known_hosts)
        with pytest.raises(PowerError) as caught:
            await driver.power_off()
        assert caught.value.category == "auth" and not caught.value.retriable
    assert sshd.commands() == []
    lenient = ssh_driver(sshd, Credentials(private_key=sshd.client_key),
                         trustUnknownHosts=True)
    await lenient.power_off()
    assert sshd.commands() == ["systemctl poweroff"]


async def test_wrong_key_is_an_auth_error(sshd: Sshd, tmp_path: Path) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    driver = ssh_driver(sshd, Credentials(private_key=other), knownHosts=trusted(sshd, tmp_path))
    with pytest.raises(PowerError) as caught:
        await driver.power_off()
    assert caught.value.category == "auth"
    assert "PRIVATE KEY" not in str(caught.value)


async def test_failing_command_is_rejected_with_output(tmp_path: Path) -> None:
    with Sshd(exit_code=1) as failing:
        driver = ssh_driver(failing, Credentials(private_key=failing.client_key),
                            knownHosts=trusted(failing, tmp_path))
        with pytest.raises(PowerError) as caught:
            await driver.power_off()
    assert caught.value.category == "rejected"
    assert "exited 1" in str(caught.value) and "recorded: systemctl poweroff" in str(caught.value)


async def test_nothing_listening_is_unreachable(sshd: Sshd) -> None:
    machine = make_machine({"driver": "ssh", "settings": {
        "host": "127.0.0.1", "port": free_port(), "trustUnknownHosts": True}})
    driver = build_driver(machine.power.off, machine=machine, credentials=Credentials())
    with pytest.raises(PowerError) as caught:
        await driver.power_off()
    assert caught.value.category == "unreachable" and caught.value.retriable
    for unsupported in (driver.power_on(), driver.status()):
        with pytest.raises(PowerError) as caught:
            await unsupported
        assert caught.value.category == "unsupported"
