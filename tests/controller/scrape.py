"""A scrape target for tests that feed the real Prometheus: a ``jobs_waiting`` gauge the
test sets while it runs (as text, so ``NaN`` too), served on loopback from a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lab.peers.process import LOOPBACK, free_port
from tests.ship.observed import Prometheus


class Target:
    """A scrape target whose ``jobs_waiting`` gauge the test sets (text, so NaN too)."""

    def __init__(self) -> None:
        self.value = "3"
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE jobs_waiting gauge\njobs_waiting {target.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def served() -> Iterator[Target]:
    """A Target, shut down on exit."""
    target = Target()
    try:
        yield target
    finally:
        target.close()


async def seen(prometheus: Prometheus, value: str) -> bool:
    """Whether Prometheus's newest sample of the gauge is value (as text)."""
    answer = await prometheus.query("jobs_waiting", instant=True)
    result = answer.get("data", {}).get("result", [])
    return bool(result) and result[0]["value"][1] == value
