"""The host frame (wire v2): round trip, its rejections, and that a v1 connection
refuses it while either version reads samples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.wire.test_protocol import SAMPLE
from wire import (
    HOST_VERSION,
    SUBPROTOCOLS,
    FrameError,
    HostFacts,
    decode_message,
    encode_host,
    encode_sample,
    version_of,
)

FACTS = HostFacts(node="node-a", boot_id="b-1",
                  dmi={"vendor": "Dell Inc.", "product": "PowerEdge R640", "serial": "7XK2Q13"},
                  addresses=("10.0.4.17", "2001:db8::17"))


def host_frame(**changes: Any) -> str:
    obj = json.loads(encode_host(FACTS))
    obj.update(changes)
    return json.dumps(obj)


def reason_of(data: str, *, version: int = HOST_VERSION) -> str:
    with pytest.raises(FrameError) as info:
        decode_message(data, version=version)
    return info.value.reason


def test_a_host_frame_round_trips_on_a_v2_connection() -> None:
    assert json.loads(encode_host(FACTS))["v"] == HOST_VERSION == 2
    assert decode_message(encode_host(FACTS), version=2) == FACTS


def test_samples_are_read_on_either_version() -> None:
    assert decode_message(encode_sample(SAMPLE), version=1) == SAMPLE
    assert decode_message(encode_sample(SAMPLE), version=2) == SAMPLE


def test_a_v1_connection_refuses_a_host_frame_as_a_version_error() -> None:
    assert reason_of(encode_host(FACTS), version=1) == "version"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"dmi": {"colour": "blue"}}, "schema"),
    ({"dmi": {"vendor": ""}}, "schema"),
    ({"dmi": {"vendor": "x" * 129}}, "schema"),
    ({"dmi": ["Dell"]}, "schema"),
    ({"addresses": ["10.0.0.300"]}, "schema"),
    ({"addresses": [167772161]}, "schema"),
    ({"addresses": "10.0.0.1"}, "schema"),
    ({"addresses": [f"10.0.0.{i}" for i in range(33)]}, "schema"),
    ({"type": "sample"}, "schema"),
    ({"node": ""}, "schema"),
    ({"extra": 1}, "schema"),
])
def test_a_bad_host_frame_is_rejected_by_category(changes: dict[str, Any], reason: str) -> None:
    assert reason_of(host_frame(**changes)) == reason


def test_a_frame_missing_a_field_is_a_schema_error() -> None:
    obj = json.loads(encode_host(FACTS))
    del obj["dmi"]
    assert reason_of(json.dumps(obj)) == "schema"


def test_a_blank_firmware_and_no_address_are_a_valid_frame() -> None:
    bare = HostFacts(node="n", boot_id="b", dmi={}, addresses=())
    assert decode_message(encode_host(bare), version=2) == bare


def test_the_version_follows_the_subprotocol_the_controller_chose() -> None:
    assert SUBPROTOCOLS == ("bamel.v2", "bamel.v1")
    assert version_of("bamel.v2") == 2
    assert version_of("bamel.v1") == 1
    assert version_of(None) == 1  # a controller that chose none: v1
