"""The controller's HTTP surface: agent ingest, /metrics, /healthz, /readyz and /explain.

One aiohttp application on one port keeps the Deployment's Service simple; the
NetworkPolicy narrows who may reach the ingest path. ``/healthz`` is liveness:
503 naming every root task that ended unexpectedly (``controller.supervision``),
for the moment before the process exits; ``/readyz`` is 200 only on the replica
that leads, so the Service sends agents' streams to the one controller that acts
on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from controller.ingest import IngestServer
from controller.metrics import ControllerMetrics
from controller.reactor import Reactor

EXPLAIN_PATH = "/explain"


def build_app(*, ingest: IngestServer, metrics: ControllerMetrics, reactor: Reactor,
              unhealthy: Callable[[], Sequence[str]],
              ready: Callable[[], bool] = lambda: True) -> web.Application:
    """The application with every route mounted; ``unhealthy()`` names what failed."""
    app = web.Application()
    app.add_routes(ingest.routes())

    async def metrics_view(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def healthz(request: web.Request) -> web.Response:
        failures = unhealthy()
        if not failures:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="".join(f"unhealthy: {line}\n"
                                                     for line in failures))

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(text="leading\n") if ready() else web.Response(
            status=503, text="standby\n")

    async def explain(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            raise web.HTTPBadRequest(text="limit: expected an integer\n") from None
        pool = request.query.get("pool")
        records = [r for r in reactor.decisions if pool is None or r.pool == pool]
        return web.json_response({"decisions": [r.as_dict() for r in records[-limit:]]})

    app.add_routes([web.get("/metrics", metrics_view), web.get("/healthz", healthz),
                    web.get("/readyz", readyz),
                    web.get(EXPLAIN_PATH, explain)])
    return app
