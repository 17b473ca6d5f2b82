"""The pressure stream's message schema, shared by the agent and the controller.

One frame is one compact JSON object. The controller decodes about 10,000 frames per
second on one core, so validation is written by hand against plain ``json`` instead of a
model library: every field is checked once, in one pass, and any surprise becomes a
:class:`FrameError` whose ``reason`` the controller can count by category.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

from faults import BoundaryError

PROTOCOL_VERSION: Final = 1
MAX_FRAME_BYTES: Final = 64 * 1024
PRESSURE_RESOURCES: Final = ("cpu", "memory", "network")

FRAME_REASONS: Final = ("oversized", "malformed", "version", "schema")
"""Every value :attr:`FrameError.reason` can take."""

_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_RESOURCES: Final = frozenset(PRESSURE_RESOURCES)
_FIELDS: Final = frozenset(
    {"v", "type", "node", "boot_id", "macs", "timestamp", "seq", "interval", "levels",
     "rates", "sources"}
)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_DECODE = json.JSONDecoder().decode


class FrameError(ValueError, BoundaryError):
    """A frame the receiver must drop; ``reason`` is one of :data:`FRAME_REASONS`.

    Never retriable: the same bytes fail the same way.
    """

    retriable = False

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PressureSample:
    """One node's pressure over one interval, as the agent measured it.

    ``levels`` are in [0, 1] per resource; ``rates`` are the smoothed change of the level
    per second; ``sources`` say where each figure came from ("ebpf", "psi", "proc") so
    the controller can weigh or report them. ``macs`` are lower-case colon-separated NIC
    addresses, sent so the controller can learn them for Wake-on-LAN.
    """

    node: str
    boot_id: str
    macs: tuple[str, ...]
    timestamp: float
    seq: int
    interval: float
    levels: dict[str, float]
    rates: dict[str, float]
    sources: dict[str, str]


def encode_sample(sample: PressureSample) -> str:
    """The sample as one compact JSON frame with its version and type."""
    return _ENCODER.encode(
        {
            "v": PROTOCOL_VERSION,
            "type": "sample",
            "node": sample.node,
            "boot_id": sample.boot_id,
            "macs": list(sample.macs),
            "timestamp": sample.timestamp,
            "seq": sample.seq,
            "interval": sample.interval,
            "levels": sample.levels,
            "rates": sample.rates,
            "sources": sample.sources,
        }
    )


def decode_frame(data: str | bytes) -> PressureSample:
    """Parse and validate one sample frame; raise :class:`FrameError` on anything
    unexpected (a v1 connection carries nothing else)."""
    return sample_of(parse_frame(data))


def parse_frame(data: str | bytes) -> dict[str, Any]:
    """One frame as a JSON object, its size and syntax checked; the fields are not."""
    size = len(data)
    if isinstance(data, str) and size > MAX_FRAME_BYTES // 4:
        size = len(data.encode(errors="surrogatepass"))  # only long text can be too big
    if size > MAX_FRAME_BYTES:
        raise FrameError("oversized", f"{size} bytes > {MAX_FRAME_BYTES}")
    try:
        text = data.decode() if isinstance(data, bytes) else data
        obj = _DECODE(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise FrameError("malformed", str(error)) from error
    if type(obj) is not dict:
        raise FrameError("malformed", "frame is not a JSON object")
    return obj


def sample_of(obj: dict[str, Any]) -> PressureSample:
    """The sample a parsed frame holds; :class:`FrameError` unless it is exactly one."""
    version = obj.get("v")
    if version != PROTOCOL_VERSION or type(version) is not int:
        raise FrameError("version", f"v={version!r}, expected {PROTOCOL_VERSION}")
    check_fields(obj, _FIELDS, kind="sample")
    return PressureSample(
        node=text_field(obj, "node"),
        boot_id=text_field(obj, "boot_id"),
        macs=_macs(obj["macs"]),
        timestamp=_number(obj, "timestamp", low=0.0),
        seq=_count(obj, "seq"),
        interval=_number(obj, "interval", low=0.0),
        levels=_per_resource(obj, "levels", low=0.0, high=1.0),
        rates=_per_resource(obj, "rates", low=-math.inf, high=math.inf),
        sources=_sources(obj["sources"]),
    )


def check_fields(obj: dict[str, Any], fields: frozenset[str], *, kind: str) -> None:
    """A frame of ``kind`` has exactly these fields, or it is a schema error."""
    if obj.keys() != fields:
        missing = sorted(fields - obj.keys())
        extra = sorted(obj.keys() - fields)
        raise FrameError("schema", f"missing {missing}, extra {extra}")
    if obj["type"] != kind:
        raise FrameError("schema", f"type={obj['type']!r}, expected {kind!r}")


def text_field(obj: dict[str, Any], name: str) -> str:
    """A field that must be a non-empty string."""
    value = obj[name]
    if type(value) is not str or not value:
        raise FrameError("schema", f"{name} must be a non-empty string, got {value!r}")
    return value


def _number(obj: dict[str, Any], name: str, *, low: float) -> float:
    value = obj[name]
    kind = type(value)
    if (kind is not float and kind is not int) or not math.isfinite(value) or value < low:
        raise FrameError("schema", f"{name} must be a finite number ≥ {low}, got {value!r}")
    return float(value)


def _count(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if type(value) is not int or value < 0:
        raise FrameError("schema", f"{name} must be a non-negative integer, got {value!r}")
    return value


def _macs(value: Any) -> tuple[str, ...]:
    if type(value) is not list:
        raise FrameError("schema", f"macs must be a list, got {value!r}")
    for mac in value:
        if type(mac) is not str or not _MAC.fullmatch(mac):
            raise FrameError("schema", f"bad MAC address {mac!r}")
    return tuple(value)


def _per_resource(obj: dict[str, Any], name: str, *, low: float, high: float) -> dict[str, float]:
    table = obj[name]
    if type(table) is not dict:
        raise FrameError("schema", f"{name} must be an object, got {table!r}")
    out: dict[str, float] = {}
    for resource, value in table.items():
        if resource not in _RESOURCES:
            raise FrameError("schema", f"{name}: unknown resource {resource!r}")
        kind = type(value)
        if (kind is not float and kind is not int) or not (
            math.isfinite(value) and low <= value <= high
        ):
            raise FrameError("schema", f"{name}.{resource} out of range: {value!r}")
        out[resource] = float(value)
    return out


def _sources(table: Any) -> dict[str, str]:
    return text_table(table, "sources", _RESOURCES, noun="resource")


def text_table(table: Any, name: str, keys: frozenset[str], *, noun: str,
               longest: int | None = None) -> dict[str, str]:
    """An object whose keys are among ``keys`` and whose values are non-empty strings
    (of at most ``longest`` characters when given)."""
    if type(table) is not dict:
        raise FrameError("schema", f"{name} must be an object, got {table!r}")
    for key, value in table.items():
        if key not in keys:
            raise FrameError("schema", f"{name}: unknown {noun} {key!r}")
        if type(value) is not str or not value or (longest and len(value) > longest):
            raise FrameError("schema", f"{name}.{key} must be a non-empty string"
                             + (f" of at most {longest} characters" if longest else ""))
    return table
