"""Logging for the long-running commands: readable lines, or one JSON object per line.

JSON is for log collectors (Loki, Elasticsearch): every record becomes an object
with ``time``, ``level``, ``logger`` and ``message``, plus any ``extra={...}``
fields the caller attached, so a query can filter on ``machine`` or ``pool``
without parsing text. The standard library's logging is enough for this; a
structured-logging library would add a dependency for one formatter.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message",
                                                                         "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra fields kept, exceptions as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(*, fmt: str = "text", level: str = "info") -> None:
    """Send every logger's records to stderr in fmt ("text" or "json") at level."""
    if fmt not in FORMATS:
        raise ValueError(f"--log-format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
