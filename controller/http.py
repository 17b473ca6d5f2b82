"""The controller's HTTP surface: agent ingest, /metrics, /healthz and /explain.

One aiohttp application on one port keeps the Deployment's Service simple; the
NetworkPolicy narrows who may reach the ingest path.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from controller.ingest import IngestServer
from controller.metrics import ControllerMetrics
from controller.reactor import Reactor

EXPLAIN_PATH = "/explain"


def build_app(*, ingest: IngestServer, metrics: ControllerMetrics, reactor: Reactor,
              healthy: Callable[[], bool]) -> web.Application:
    """The application with every route mounted."""
    app = web.Application()
    app.add_routes(ingest.routes())

    async def metrics_view(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n") if healthy() else web.Response(status=503,
                                                                         text="unhealthy\n")

    async def explain(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "20"))
        pool = request.query.get("pool")
        records = [r for r in reactor.decisions if pool is None or r.pool == pool]
        return web.json_response({"decisions": [r.as_dict() for r in records[-limit:]]})

    app.add_routes([web.get("/metrics", metrics_view), web.get("/healthz", healthz),
                    web.get(EXPLAIN_PATH, explain)])
    return app
