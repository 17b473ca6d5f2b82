"""``bamel power`` against a real BMC, and a sweep for credentials in every text we emit."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from bamel.cli import main
from controller.power import Credentials, PowerError, build_driver
from lab.peers import IpmiSim, Sshd, SushyEmulator
from lab.peers.process import free_port
from tests.power.conftest import CREDENTIALS, PASSWORD, make_machine

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, bmc: IpmiSim, password: str = PASSWORD) -> Path:
    credentials = tmp_path / "bmc.json"
    credentials.write_text(json.dumps({"username": "admin", "password": password}))
    ipmi = {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port,
                                            "pollInterval": 0.05, "timeout": 3}}
    config = {
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "pools": [{"name": "general"}],
        "machines": [{"name": "rack-1", "pool": "general", "capacity": {"cpu": 8, "memory": "8Gi"},
                      "power": {"on": ipmi, "off": ipmi,
                                "credentials": {"file": str(credentials)}}}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_reads_and_switches_a_real_bmc(
    bmc: IpmiSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, bmc))
    assert main(["power", "status", "rack-1", "--config", config]) == 0
    assert main(["power", "on", "rack-1", "--config", config, "--dry-run"]) == 0
    assert bmc.commands() == []
    assert main(["power", "on", "rack-1", "--config", config]) == 0
    assert main(["power", "off", "rack-1", "--config", config, "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["rack-1: off", "DRY RUN: rack-1: would power on with ipmi; nothing contacted",
                   "rack-1: power-on done (ipmi)", "rack-1: forced power-off done (ipmi)"]
    assert bmc.commands() == ["set power 1", "set power 0"]


def test_cli_reports_a_power_error_with_its_category(
    bmc: IpmiSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, bmc, password="wrong-" + PASSWORD))
    assert main(["power", "on", "rack-1", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "(auth, permanent)" in err and PASSWORD not in err
    assert main(["power", "on", "nobody", "--config", config]) == 2


async def test_no_credential_reaches_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drive every driver through success and failure; search all captured text."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    wrong = Credentials(username="admin", password="bad-" + PASSWORD)
    with IpmiSim(password=PASSWORD) as bmc, Sshd() as sshd, \
            SushyEmulator(username="admin", password=PASSWORD) as redfish:
        key = Credentials(private_key=sshd.client_key, password=PASSWORD,
                          known_hosts=sshd.known_hosts_line)
        cases = [
            ({"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port,
                                             "pollInterval": 0.05}}, [CREDENTIALS, wrong]),
            ({"driver": "ipmi", "settings": {"host": "127.0.0.1", "port": free_port(),
                                             "timeout": 0.5}}, [CREDENTIALS]),
            ({"driver": "redfish", "settings": {"url": redfish.url, "wait": False}},
             [CREDENTIALS, wrong]),
            ({"driver": "ssh", "settings": {"host": sshd.host, "port": sshd.port}},
             [key, Credentials(password=PASSWORD, known_hosts=sshd.known_hosts_line)]),
            ({"driver": "command", "settings": {"argv": ["sh", "-c", "echo $BAMEL_PASSWORD; "
                                                         "exit 4"]}}, [CREDENTIALS]),
        ]
        for action, credential_sets in cases:
            for creds in credential_sets:
                texts += await _exercise(action, creds)
    captured = capsys.readouterr()
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text, captured.out, captured.err]
    assert len(texts) > 20
    leaks = [text for text in texts if PASSWORD in text or "PRIVATE KEY" in text]
    assert leaks == []


async def _exercise(action: dict[str, Any], creds: Credentials) -> list[str]:
    """Every text a caller could see: errors, their causes, reprs."""
    machine = make_machine(action)
    texts = [repr(creds), str(creds)]
    try:
        driver = build_driver(machine.power.on, machine=machine, credentials=creds)
    except PowerError as error:
        return [*texts, str(error), repr(error)]
    texts.append(repr(driver))
    for operation in ("status", "power_on", "power_off"):
        try:
            async with asyncio.timeout(10):
                await getattr(driver, operation)()
        except PowerError as error:
            texts += [str(error), repr(error), repr(error.args)]
    await driver.close()
    return texts
