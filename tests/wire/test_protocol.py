"""The pressure frame schema: round trip, and every rejection carries its category."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import (
    MAX_FRAME_BYTES,
    PRESSURE_RESOURCES,
    PROTOCOL_VERSION,
    FrameError,
    PressureSample,
    decode_frame,
    encode_sample,
)

SAMPLE = PressureSample(
    node="node-a",
    boot_id="0b5c6f1e-58a1-4a8e-9a3c-0d4f3f0c2a11",
    macs=("52:54:00:12:34:56",),
    timestamp=1_700_000_000.25,
    seq=7,
    interval=1.0,
    levels={"cpu": 0.5, "memory": 0.0, "network": 1.0},
    rates={"cpu": -0.25, "memory": 0.0, "network": 3.5},
    sources={"cpu": "ebpf", "memory": "psi", "network": "proc"},
)


def frame(**changes: Any) -> str:
    obj = json.loads(encode_sample(SAMPLE))
    obj.update(changes)
    return json.dumps(obj, ensure_ascii=False)


def reason_of(data: str | bytes) -> str:
    with pytest.raises(FrameError) as info:
        decode_frame(data)
    return info.value.reason


def test_round_trip_is_exact() -> None:
    assert decode_frame(encode_sample(SAMPLE)) == SAMPLE
    assert decode_frame(encode_sample(SAMPLE).encode()) == SAMPLE


def test_frame_is_compact_and_versioned() -> None:
    text = encode_sample(SAMPLE)
    assert " " not in text.replace("node-a", "")
    obj = json.loads(text)
    assert obj["v"] == PROTOCOL_VERSION == 1
    assert obj["type"] == "sample"


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0)
macs = st.lists(
    st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b)), max_size=4
)


@given(
    levels=st.fixed_dictionaries(dict.fromkeys(PRESSURE_RESOURCES, unit)),
    rates=st.fixed_dictionaries(dict.fromkeys(PRESSURE_RESOURCES, finite)),
    macs=macs,
    seq=st.integers(min_value=0, max_value=2**53),
    node=st.text(min_size=1, max_size=60),
)
def test_any_valid_sample_round_trips(
    levels: dict[str, float], rates: dict[str, float], macs: list[str], seq: int, node: str
) -> None:
    sample = replace(SAMPLE, levels=levels, rates=rates, macs=tuple(macs), seq=seq, node=node)
    assert decode_frame(encode_sample(sample)) == sample


def test_integers_are_accepted_where_floats_are_expected() -> None:
    sample = decode_frame(frame(timestamp=5, interval=1, levels={"cpu": 1}))
    assert sample.timestamp == 5.0
    assert sample.levels == {"cpu": 1.0}
    assert isinstance(sample.levels["cpu"], float)


def test_oversized() -> None:
    assert reason_of("x" * (MAX_FRAME_BYTES + 1)) == "oversized"


@pytest.mark.parametrize("data", ["", "{", "[1, 2]", "null", b"\xff\xfe", '"sample"'])
def test_malformed(data: str | bytes) -> None:
    assert reason_of(data) == "malformed"


@pytest.mark.parametrize("version", [0, 2, "1", 1.0, None, True])
def test_version(version: Any) -> None:
    assert reason_of(frame(v=version)) == "version"


def test_missing_version_is_a_version_error() -> None:
    obj = json.loads(frame())
    del obj["v"]
    assert reason_of(json.dumps(obj)) == "version"


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "hello"},
        {"extra": 1},
        {"node": ""},
        {"node": 5},
        {"boot_id": None},
        {"macs": "52:54:00:12:34:56"},
        {"macs": ["52:54:00:12:34"]},
        {"macs": ["52:54:00:12:34:5G"]},
        {"macs": ["52-54-00-12-34-56"]},
        {"macs": ["52:54:00:12:34:56\n"]},
        {"timestamp": "now"},
        {"timestamp": -1},
        {"seq": -1},
        {"seq": 1.5},
        {"seq": True},
        {"interval": -0.5},
        {"levels": {"cpu": 1.01}},
        {"levels": {"cpu": -0.01}},
        {"levels": {"cpu": True}},
        {"levels": {"disk": 0.1}},
        {"levels": [0.1]},
        {"rates": {"cpu": "fast"}},
        {"rates": {"gpu": 0.0}},
        {"sources": {"cpu": ""}},
        {"sources": {"io": "psi"}},
        {"sources": "ebpf"},
    ],
)
def test_schema(changes: dict[str, Any]) -> None:
    assert reason_of(frame(**changes)) == "schema"


def test_missing_field_is_schema() -> None:
    obj = json.loads(frame())
    del obj["rates"]
    assert reason_of(json.dumps(obj)) == "schema"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["levels", "rates"])
def test_non_finite_values_are_schema(field: str, literal: str) -> None:
    text = frame(**{field: {"cpu": 0.5}}).replace("0.5", literal)
    assert reason_of(text) == "schema"


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_non_finite_timestamp_is_schema(literal: str) -> None:
    text = frame(timestamp=123.5).replace("123.5", literal)
    assert reason_of(text) == "schema"


def test_encoder_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        encode_sample(replace(SAMPLE, rates={"cpu": float("nan")}))


def test_error_carries_reason_and_detail() -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(frame(levels={"cpu": 2}))
    assert info.value.reason == "schema"
    assert "cpu" in info.value.detail
    assert str(info.value).startswith("schema: ")


def test_size_is_counted_in_utf8_bytes() -> None:
    wide = frame(node="é" * (MAX_FRAME_BYTES // 2))
    assert len(wide) < MAX_FRAME_BYTES < len(wide.encode())
    assert reason_of(wide) == "oversized"
