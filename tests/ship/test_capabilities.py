"""The capabilities the DaemonSet grants are enough for the BPF probes, and each is needed.

The agent runs as root with every capability dropped but the DaemonSet's list.
``setpriv`` reproduces that on this host: the bounding set limits what a root
process keeps across exec, and no_new_privs is ``allowPrivilegeEscalation: false``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ship.shipped import container, find, kustomize

pytestmark = [pytest.mark.integration, pytest.mark.root]

CAP_BPF = 39
CAP_PERFMON = 38


def granted() -> list[str]:
    agent = find(kustomize(), "DaemonSet", "bamel-agent")
    added: list[str] = container(agent)["securityContext"]["capabilities"]["add"]
    return added


def sources_with(capabilities: list[str]) -> dict[str, str]:
    """Where each resource's pressure came from in one sample taken with only these caps."""
    bounding = ",".join(["-all", *(f"+{cap.lower()}" for cap in capabilities)])
    done = subprocess.run(
        ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--no-new-privs",
         sys.executable, "-m", "bamel", "agent", "--once", "--print", "--interval", "0.3"],
        capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, str] = json.loads(done.stdout)["sources"]
    return result


@pytest.fixture(autouse=True)
def _host_can_run_probes() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    effective = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                         if line.startswith("CapEff:")).split()[1], 16)
    if not effective & (1 << CAP_BPF) or not effective & (1 << CAP_PERFMON):
        pytest.skip("this kernel or container has no CAP_BPF/CAP_PERFMON")
    if not Path("/sys/kernel/tracing/events").is_dir():
        pytest.skip("tracefs is not mounted: run `make system`")


def test_the_daemonsets_capabilities_load_every_probe() -> None:
    assert sources_with(granted()) == {"cpu": "ebpf", "memory": "ebpf", "network": "ebpf"}


@pytest.mark.parametrize("dropped", ["BPF", "PERFMON"])
def test_each_of_them_is_needed(dropped: str) -> None:
    """Least privilege: one fewer and the agent falls back to PSI and /proc."""
    assert dropped in granted()
    rest = [cap for cap in granted() if cap != dropped]
    assert sources_with(rest) == {"cpu": "psi", "memory": "psi", "network": "proc"}
