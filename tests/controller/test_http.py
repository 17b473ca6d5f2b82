"""The controller's HTTP surface served for real on loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from bamel.cli import main
from controller.http import build_app
from controller.ingest import IngestServer, TokenAuthenticator
from controller.supervision import Supervisor
from tests.controller.test_actuation import CFG, Rig


async def test_metrics_healthz_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    rig = Rig(CFG)
    ingest = IngestServer(store=rig.reactor.pressure, authenticator=TokenAuthenticator({}),
                          metrics=rig.metrics)
    app = build_app(ingest=ingest, metrics=rig.metrics, reactor=rig.reactor,
                    unhealthy=lambda: [])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    rig.reactor.set_pending("general", {"cpu": 4.0, "memory": 8 * 2.0**30}, pods=2)
    rig.reactor.plan_once()
    await rig.settle()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
            ok_power_on = 'power_actions_total{action="on",driver="fake",result="ok"} 1.0'
            assert f"bamel_controller_{ok_power_on}" in text
            assert "bamel_controller_decision_latency_seconds_bucket" in text
            async with session.get(f"{base}/explain?pool=general") as response:
                payload = await response.json()
        decision = payload["decisions"][-1]
        assert decision["chosen"] == ["a"]
        names = {c["name"] for c in decision["rounds"][0]["candidates"]}
        assert names == {"a", "b"}
        code = await asyncio.to_thread(main, ["explain", "--url", base, "--limit", "1"])
        assert code == 0
        out = capsys.readouterr().out
        assert "[general] power-on: a" in out
        assert "#1 a" in out and "#2 b" in out
    finally:
        await runner.cleanup()


async def test_readyz_follows_leadership_and_a_bad_limit_is_a_400() -> None:
    rig = Rig(CFG)
    leading = False
    ingest = IngestServer(store=rig.reactor.pressure, authenticator=TokenAuthenticator({}),
                          metrics=rig.metrics)
    app = build_app(ingest=ingest, metrics=rig.metrics, reactor=rig.reactor,
                    unhealthy=lambda: [], ready=lambda: leading)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 503
            leading = True
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with session.get(f"{base}/explain?limit=many") as response:
                assert response.status == 400
                assert "limit" in await response.text()
    finally:
        await runner.cleanup()


async def test_healthz_is_503_naming_a_root_task_that_ended() -> None:
    rig = Rig(CFG)
    supervisor = Supervisor()
    ingest = IngestServer(store=rig.reactor.pressure, authenticator=TokenAuthenticator({}),
                          metrics=rig.metrics)
    app = build_app(ingest=ingest, metrics=rig.metrics, reactor=rig.reactor,
                    unhealthy=supervisor.unhealthy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    supervisor.spawn(asyncio.Event().wait(), name="reactor")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            supervisor.spawn(asyncio.sleep(0), name="pending-pump")  # returned: it must not
            await asyncio.wait_for(supervisor.failed(), 5)
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 503
                assert await response.text() == "unhealthy: task 'pending-pump' returned\n"
    finally:
        await supervisor.close()
        await runner.cleanup()
