"""§1 of docs/reliability.md: kill the controller at random moments, lose nothing.

The lab's four machines (IPMI, IPMI with a slow chassis, Redfish, Wake-on-LAN with
SSH off) cycle power under a load that changes every few seconds, and the controller
is SIGKILLed and restarted ``BAMEL_CHAOS_KILLS`` times (``make test``: 6, a couple of
minutes; ``make chaos``: 50). No peer may receive a second power command for one
decision, and after the last restart every machine must settle within the bound.
The run ends with the secret scan of §6 over everything the controller showed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bamel.cli import SUBCOMMANDS, main
from lab.controlplane import BINARIES
from lab.rack import RedfishPower, WolSshPower
from lab.run import Lab, LabOptions
from tests.reliability.chaos import FLEET, PHASES, Chaos, ChaosPlan
from tests.reliability.secrets import Secret, leaks

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("BAMEL_CHAOS_KILLS", "6"))
SEED = int(os.environ.get("BAMEL_CHAOS_SEED", "1"))


async def test_killed_at_random_the_controller_repeats_no_power_command_and_converges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    if not (BINARIES / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BINARIES}: run `make system`")
    if "controller" not in SUBCOMMANDS:
        pytest.skip("`bamel controller` is not available in this checkout")
    plan = ChaosPlan(kills=KILLS, seed=SEED)
    async with Lab(LabOptions(fleet=FLEET, workload=False, trace=False, host_agent=False,
                              duration=None, workdir=tmp_path / "lab",
                              controller_log_level="debug")) as lab:
        report = await Chaos(lab, plan).run()
        with capsys.disabled():
            print(f"\n{report.line()}")
            print(report.details())
        shown = await _shown(lab, capsys)
        secrets = _secrets(lab)
    assert report.duplicates == []
    if len(PHASES) * 2 <= KILLS:  # the full run reaches every phase
        aimed = {phase: count for phase, count in report.by_phase().items() if phase != "any"}
        assert all(aimed.values()), aimed
    assert report.unsettled_at_end == {}, report.unsettled_at_end
    assert report.final <= plan.converge_within
    assert report.actions > 0
    assert leaks(shown, secrets) == []


async def _shown(lab: Lab, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Everything the controller showed: its log over every restart, Events, its
    objects, /metrics, /explain, /healthz and ``bamel explain``."""
    assert lab.controller is not None and lab.cluster is not None
    shown = {"controller log": lab.controller.log_path.read_text(errors="replace")}
    for path in ("/metrics", "/explain?limit=2000", "/healthz"):
        shown[path] = await lab.controller.get_text(path)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["explain", "--url", lab.controller.url,
                                          "--limit", "2000"]) == 0
    shown["bamel explain"] = capsys.readouterr().out
    events = await lab.cluster.core.list_event_for_all_namespaces()
    shown["events"] = json.dumps([lab.cluster.core.api_client.sanitize_for_serialization(e)
                                  for e in events.items])
    shown["baremetalnodes"] = json.dumps(await lab.cluster.machines())
    assert "PoweredOn" in shown["events"] and "[general]" in shown["bamel explain"]
    return shown


def _secrets(lab: Lab) -> list[Secret]:
    """Every BMC password, SSH private key and agent token of the run."""
    assert lab.rack is not None
    found = [Secret(f"BMC password ({name})", data["password"])
             for name, data in lab.rack.secrets.items()]
    for name, peer in lab.rack.peers.items():
        if isinstance(peer, RedfishPower):
            found.append(Secret(f"Redfish password ({name})", _password_of(peer)))
        if isinstance(peer, WolSshPower):
            found.append(Secret(f"SSH private key ({name})", peer.sshd.client_key))
    tokens = lab.workdir / "tokens"
    found += [Secret(f"agent token ({path.name})", path.read_text().strip())
              for path in sorted(tokens.iterdir())]
    return found


def _password_of(peer: RedfishPower) -> str:
    password = peer.emulator.password
    assert password
    return password
