"""The agent image loads its eBPF probes when run as the DaemonSet runs it.

The container gets exactly the DaemonSet's security context (root, every capability
dropped but CAP_BPF and CAP_PERFMON, no privilege escalation, read-only root) and its
host mounts (tracefs, debugfs, /lib/modules, /usr/src): the image brings BCC from
Debian, the host brings the kernel headers BCC compiles against.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.images.engine import Built, run
from tests.images.pods import PodRun
from tests.ship.shipped import find, kustomize

pytestmark = [pytest.mark.integration, pytest.mark.images, pytest.mark.root]

ONCE = ["agent", "--once", "--print", "--interval", "0.3"]
HEADER_MOUNTS = ("/lib/modules", "/usr/src")


@pytest.fixture(scope="module")
def agent_pod(tmp_path_factory: pytest.TempPathFactory) -> PodRun:
    if not Path(f"/lib/modules/{os.uname().release}/build").exists():
        pytest.skip("no kernel headers for the running kernel: run `make system`")
    if not Path("/sys/kernel/tracing/events").is_dir():
        pytest.skip("tracefs is not mounted: run `make system`")
    return PodRun(find(kustomize(), "DaemonSet", "bamel-agent"),
                  fields={"spec.nodeName": "node-1", "status.hostIP": "127.0.0.1"},
                  secrets={"bamel-agent-tokens": {"node-1": "token"}},
                  workdir=tmp_path_factory.mktemp("agent"))


def sample(built: Built, flags: list[str]) -> dict[str, object]:
    done = run(built.refs["agent"], flags=flags, args=ONCE)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_daemonsets_container_measures_with_ebpf(built: Built, agent_pod: PodRun) -> None:
    flags = agent_pod.flags()
    assert "--cap-add=CAP_BPF" in flags and "--read-only" in flags  # as the manifest says
    assert sample(built, flags)["sources"] == {"cpu": "ebpf", "memory": "ebpf",
                                               "network": "ebpf"}


def test_without_the_hosts_headers_it_falls_back(built: Built, agent_pod: PodRun) -> None:
    """The image has BCC but no kernel headers: they come from the DaemonSet's mounts."""
    flags = agent_pod.flags()
    for mount in HEADER_MOUNTS:
        at = flags.index(f"{mount}:{mount}:ro")
        del flags[at - 1: at + 1]
    assert sample(built, flags)["sources"] == {"cpu": "psi", "memory": "psi",
                                               "network": "proc"}
