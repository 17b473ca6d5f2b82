"""Hostile frames, each generated together with the verdict the ingest must give it.

The verdict comes from how the frame was made (a field given a wrong type, the
version changed, the JSON cut short), never from the decoder under test, so a
decoder that lets a bad frame through, or rejects it for another reason, fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from wire import MAX_FRAME_BYTES, PRESSURE_RESOURCES, PROTOCOL_VERSION

OWN_NODE = "node-own"
"""The node the connection's token speaks for."""
OWN_BOOT = "boot-own"
"""Its boot: a replay is a frame of the same boot with a sequence number already seen."""
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")

Frame = tuple[str | bytes, str | None]
"""A frame and the reason it must be rejected with (None: accepted)."""

_unit = st.floats(min_value=0.0, max_value=1.0)
_finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
_mac = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
_name = st.text(min_size=1, max_size=40)
_json_scalars = st.none() | st.booleans() | st.integers() | _finite | st.text(max_size=20)
_json = st.recursive(_json_scalars,
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)


@st.composite
def valid_object(draw: st.DrawFn, *, node: str = OWN_NODE,
                 boot: str | None = None) -> dict[str, Any]:
    """A sample the schema accepts, as the JSON object an agent would send."""
    resources = st.lists(st.sampled_from(PRESSURE_RESOURCES), unique=True)
    return {
        "v": PROTOCOL_VERSION,
        "type": "sample",
        "node": node,
        "boot_id": boot or draw(_name),
        "macs": draw(st.lists(_mac, max_size=3)),
        "timestamp": draw(st.floats(min_value=0, max_value=4e9)),
        "seq": 0,  # the batch numbers accepted frames itself
        "interval": draw(st.floats(min_value=0, max_value=3600)),
        "levels": {r: draw(_unit) for r in draw(resources)},
        "rates": {r: draw(_finite) for r in draw(resources)},
        "sources": {r: draw(_name) for r in draw(resources)},
    }


_BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "type": _json.filter(lambda v: v != "sample"),
    "node": st.none() | st.just("") | st.integers() | st.lists(_name, max_size=2),
    "boot_id": st.none() | st.just("") | st.booleans() | st.dictionaries(_name, _name),
    "macs": (st.text(max_size=20) | st.integers()
             | st.lists(_mac, max_size=2).flatmap(lambda good: st.lists(
                 st.text(max_size=18).filter(lambda t: not _MAC.fullmatch(t)),
                 min_size=1, max_size=2).map(lambda bad: good + bad))),
    "timestamp": (st.floats(max_value=-1e-9) | st.text(max_size=5) | st.booleans()
                  | st.none() | st.lists(_finite, max_size=2)),
    "seq": st.integers(max_value=-1) | st.floats(allow_nan=False) | st.booleans()
           | st.text(max_size=5),
    "interval": st.floats(max_value=-1e-9) | st.text(max_size=5) | st.booleans(),
    "levels": (st.fixed_dictionaries({"cpu": st.floats(min_value=1.0, exclude_min=True,
                                                       allow_nan=False)})
               | st.fixed_dictionaries({"memory": st.floats(max_value=0.0, exclude_max=True,
                                                            allow_nan=False)})
               | st.fixed_dictionaries({"disk": _unit})
               | st.fixed_dictionaries({"cpu": st.booleans() | st.text(max_size=3)})
               | st.lists(_unit, max_size=3)),
    "rates": (st.fixed_dictionaries({"gpu": _finite})
              | st.fixed_dictionaries({"network": st.none() | st.text(max_size=3)})
              | st.text(max_size=5)),
    "sources": (st.fixed_dictionaries({"cpu": st.just("") | st.integers() | st.none()})
                | st.fixed_dictionaries({"io": _name}) | st.lists(_name, max_size=2)),
}


def _text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


@st.composite
def schema_breach(draw: st.DrawFn) -> Frame:
    obj = draw(valid_object())
    how = draw(st.sampled_from(("value", "missing", "extra", "non-finite")))
    if how == "value":
        field = draw(st.sampled_from(sorted(_BAD_VALUES)))
        obj[field] = draw(_BAD_VALUES[field])
    elif how == "missing":
        del obj[draw(st.sampled_from(sorted(k for k in obj if k != "v")))]
    elif how == "extra":
        obj[draw(_name.filter(lambda k: k not in obj))] = draw(_json)
    else:  # JSON's non-standard literals, which Python's decoder reads as floats
        field = draw(st.sampled_from(("levels", "rates")))
        literal = draw(st.sampled_from(("NaN", "Infinity", "-Infinity")))
        obj[field] = {"cpu": 0.123456789}
        return _text(obj).replace("0.123456789", literal), "schema"
    return _text(obj), "schema"


@st.composite
def version_breach(draw: st.DrawFn) -> Frame:
    obj = draw(valid_object())
    if draw(st.booleans()):
        del obj["v"]
    else:
        obj["v"] = draw(_json.filter(
            lambda v: not (type(v) is int and v == PROTOCOL_VERSION)))
    return _text(obj), "version"


@st.composite
def malformed(draw: st.DrawFn) -> Frame:
    how = draw(st.sampled_from(("cut", "not-object", "bad-utf8", "noise")))
    if how == "cut":  # a strict prefix of an object never parses
        text = _text(draw(valid_object()))
        return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))], "malformed"
    if how == "not-object":
        value = draw(_json.filter(lambda v: not isinstance(v, dict)))
        return _text(value), "malformed"
    if how == "bad-utf8":
        return b"\xff" + draw(st.binary(max_size=64)), "malformed"
    return "}" + draw(st.text(max_size=64)), "malformed"  # no JSON starts with }


@st.composite
def oversized(draw: st.DrawFn) -> Frame:
    text = _text(draw(valid_object()))
    pad = MAX_FRAME_BYTES + 1 - len(text.encode()) + draw(st.integers(0, 4096))
    wide = draw(st.booleans())  # counted in UTF-8 bytes, not characters
    if wide:
        return text[:-1] + ', "pad": "' + "é" * (pad // 2 + 8) + '"}', "oversized"
    return text + " " * pad, "oversized"


@st.composite
def forged(draw: st.DrawFn) -> Frame:
    other = draw(_name.filter(lambda n: n != OWN_NODE))
    return _text(draw(valid_object(node=other))), "forged"


@st.composite
def accepted(draw: st.DrawFn) -> Frame:
    return _text(draw(valid_object(boot=OWN_BOOT))), None


KINDS = {"accepted": accepted(), "schema": schema_breach(), "version": version_breach(),
         "malformed": malformed(), "oversized": oversized(), "forged": forged()}
"""Every kind of frame the batch mixes; ``stale`` ones are made from accepted ones."""


@st.composite
def batch(draw: st.DrawFn, *, size: int) -> list[Frame]:
    """size frames on one connection; accepted ones get rising sequence numbers, and
    some are sent again after a later one, which makes them stale replays."""
    frames: list[Frame] = []
    seq = 0
    sent: list[str] = []
    for _ in range(size):
        kind = draw(st.sampled_from(sorted(KINDS)))
        if kind == "accepted" and sent and draw(st.integers(0, 9)) == 0:
            frames.append((draw(st.sampled_from(sent)), "stale"))
            continue
        data, reason = draw(KINDS[kind])
        if reason is None:
            seq += 1
            obj = json.loads(data)
            obj["seq"] = seq
            data = _text(obj)
            sent.append(data)
        frames.append((data, reason))
    return frames
