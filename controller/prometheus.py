"""The controller's one door to Prometheus: an instant query answering one number.

prometheus-api-client is synchronous (requests), so each query runs in a worker
thread with a deadline, and Prometheus is told the same deadline (its ``timeout``
parameter) so it stops evaluating a query nobody waits for. Its exceptions become
``PrometheusError`` here, with ``retriable`` and a bounded ``kind`` for the metric:
a server that cannot be reached or answers 5xx, and a query that failed on the data
(422), may answer the next evaluation; a query Prometheus cannot parse (400) will be
refused until a person changes it. An answer that is not one finite number (no
series, several, NaN) is an error too, one the data may lift: a trigger acts on a
value, never on a guess.

No retries inside a query: the evaluator asks again at its next interval, and a
retry loop here would only stretch one evaluation past the next.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
from typing import Any

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from faults import BoundaryError

_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.S)


class PrometheusError(BoundaryError):
    """A query gave no usable value; ``kind`` is one of ``unreachable``, ``refused``,
    ``empty``, ``series``, ``not-a-number`` (the metric's label)."""

    def __init__(self, message: str, *, kind: str, retriable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retriable = retriable


class PrometheusQueries:
    """Instant queries against one Prometheus, each bounded by ``timeout`` seconds."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = PrometheusConnect(  # requests takes a float timeout; the stub says int
            url=self.url, timeout=timeout,  # type: ignore[arg-type]
            retry=Retry(total=0, raise_on_status=False))

    async def value(self, query: str) -> float:
        """The query's one value now; PrometheusError when there is none."""
        try:
            async with asyncio.timeout(self.timeout + 1.0):
                result = await asyncio.to_thread(self._ask, query)
        except TimeoutError:
            raise PrometheusError(f"no answer within {self.timeout:g}s", kind="unreachable",
                                  retriable=True) from None
        return one_value(result)

    def _ask(self, query: str) -> Any:
        try:
            return self._client.custom_query(query, params={"timeout": f"{self.timeout:g}"})
        except PrometheusApiClientException as error:
            raise _refusal(str(error)) from error
        except requests.Timeout as error:
            raise PrometheusError(f"no answer within {self.timeout:g}s", kind="unreachable",
                                  retriable=True) from error
        except requests.RequestException as error:
            raise PrometheusError(f"cannot reach {self.url}: {type(error).__name__}",
                                  kind="unreachable", retriable=True) from error
        except ValueError as error:  # a body that is not the API's JSON
            raise PrometheusError(f"not a Prometheus answer: {error}", kind="refused",
                                  retriable=True) from error

    def close(self) -> None:
        """Release the connection pool; safe twice."""
        self._client.close()


def one_value(result: Any) -> float:
    """The one number of an instant query's ``result``: a vector of one series, or a
    scalar ``[time, "value"]``."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        text = result[1]
    elif isinstance(result, list) and result and all(isinstance(s, dict) for s in result):
        if len(result) > 1:
            raise PrometheusError(f"{len(result)} series; the query must give one "
                                  f"(aggregate it: sum, max, ...)", kind="series",
                                  retriable=True)
        text = result[0].get("value", [None, None])[1]
    elif isinstance(result, list) and not result:
        raise PrometheusError("no series (empty result)", kind="empty", retriable=True)
    else:
        raise PrometheusError(f"not a number or one series: {str(result)[:80]}",
                              kind="series", retriable=True)
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise PrometheusError(f"not a number: {text!r}", kind="not-a-number",
                              retriable=True) from None
    if not math.isfinite(number):
        raise PrometheusError(f"the value is {text}", kind="not-a-number", retriable=True)
    return number


def _api_error(body: str) -> str:
    """The ``error`` field of the API's JSON answer, which the client hands over as the
    repr of the body's bytes; the body's start when it is not that."""
    try:
        answer = json.loads(ast.literal_eval(body))
        return str(answer["error"])
    except (ValueError, SyntaxError, TypeError, KeyError):
        return body[:200]


def _refusal(message: str) -> PrometheusError:
    """An HTTP answer other than 200: the server's own error text, retriable for 5xx."""
    match = _STATUS.search(message)
    status = int(match.group(1)) if match else 0
    text = _api_error(match.group(2)) if match else message[:200]
    retriable = status != 400
    return PrometheusError(f"HTTP {status}: {text}", kind="unreachable" if retriable
                           else "refused", retriable=retriable)
