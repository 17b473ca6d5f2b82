"""§6 of docs/reliability.md: no secret in anything the controller shows, over a real run.

The controller powers a machine on through a real ipmi_sim BMC that checks its
password, joins it, takes an agent's stream, and powers it off again. Its
credentials Secret also carries an SSH private key. Then every log record (as the
JSON formatter writes it, extra fields and tracebacks included, at debug level),
every Event, the BareMetalNode and NodePool objects, /metrics, /explain and the
output of ``bamel explain`` are scanned for the password, the key and the agent
token (``tests.reliability.secrets``).
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import asyncssh
import pytest

from bamel.cli import main
from bamel.logs import JsonFormatter
from controller.kube.client import KubeClient, api_path
from tests.reliability.secrets import Secret, leaks
from tests.service.rig import (
    PASSWORD,
    AgentStream,
    PoweredNode,
    eventually,
    replica_set,
    running,
)
from tests.service.test_service import TOKEN, World, _state_is, bmc, world

pytestmark = pytest.mark.integration
__all__ = ["bmc", "world"]

PRIVATE_KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


async def test_no_password_key_or_token_shows_in_logs_events_metrics_or_explain(
        world: World, kube: KubeClient, capsys: pytest.CaptureFixture[str]) -> None:
    records = Records()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(records)
    try:
        shown = await _run(world, kube, capsys)
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    formatter = JsonFormatter()
    shown["logs"] = "\n".join(formatter.format(record) for record in records.taken)
    for kind, namespace in (("events", None), ("baremetalnodes", None), ("nodepools", None)):
        group = "v1" if kind == "events" else "bamel.io/v1alpha1"
        shown[kind] = json.dumps(await kube.request("GET", api_path(group, kind,
                                                                    namespace=namespace)))
    assert "PoweredOff" in shown["events"] and world.machine in shown["bamel explain"]
    loggers = {record.name.split(".")[0] for record in records.taken}
    assert {"controller", "kubernetes_asyncio"} <= loggers, loggers
    assert "effective configuration" in shown["logs"]  # with the whole config as a field
    secrets = [Secret("BMC password", PASSWORD), Secret("SSH private key", PRIVATE_KEY),
               Secret("agent token", TOKEN)]
    assert leaks(shown, secrets) == []


class Records(logging.Handler):
    """Every record of every logger, kept to be formatted afterwards."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.taken: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.taken.append(record)


async def _run(world: World, kube: KubeClient,
               capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Power the machine on for a pod, off when idle; what /metrics, /explain say."""
    await kube.request("PATCH", api_path("v1", "secrets", namespace=world.namespace,
                                         name="bmc"),
                       body={"stringData": {"ssh-privatekey": PRIVATE_KEY}},
                       content_type="application/strategic-merge-patch+json")
    async with running(world.settings()) as service, \
            PoweredNode(world.kubeconfig, world.bmc, world.machine):
        await kube.request("POST", api_path("apps/v1", "replicasets", namespace=world.namespace),
                           body=replica_set("work", world.pool))
        assert await eventually(lambda: _state_is(kube, world.machine, "ready"))
        await kube.request("DELETE", api_path("apps/v1", "replicasets", namespace=world.namespace,
                                              name="work"))
        url = f"http://127.0.0.1:{service.port}"
        async with AgentStream(f"ws{url[4:]}/v1/stream", world.machine, TOKEN):
            assert await eventually(lambda: _state_is(kube, world.machine, "off"), within=90)
        assert world.bmc.commands() == ["set power 1", "set shutdown 1"]
        async with aiohttp.ClientSession() as session:
            shown = {path: await _get(session, url + path)
                     for path in ("/metrics", "/explain", "/healthz")}
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["explain", "--url", url, "--limit", "50"]) == 0
        shown["bamel explain"] = capsys.readouterr().out
    return shown


async def _get(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        return await response.text()
