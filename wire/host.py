"""What an agent says of its machine once per connection: DMI identity and addresses.

Samples keep the v1 frame, which every controller reads. The host frame is v2, and an
agent sends it only on a connection whose controller chose the ``bamel.v2`` websocket
subprotocol: a controller from before it chooses none, and the agent then sends
samples alone, so agents and controllers can be upgraded in either order.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Final

from wire.protocol import (
    PROTOCOL_VERSION,
    FrameError,
    PressureSample,
    check_fields,
    parse_frame,
    sample_of,
    text_field,
    text_table,
)

HOST_VERSION: Final = 2
SUBPROTOCOLS: Final = ("bamel.v2", "bamel.v1")
"""Offered by agents and accepted by controllers, newest first."""
MAX_ADDRESSES: Final = 32
MAX_TEXT: Final = 128
DMI_FIELDS: Final = ("vendor", "product", "serial")
_FIELDS: Final = frozenset({"v", "type", "node", "boot_id", "dmi", "addresses"})
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class HostFacts:
    """The machine an agent runs on, as it reads itself.

    ``dmi`` holds what the firmware says (``vendor``, ``product``, ``serial``; a field
    the firmware leaves empty or unreadable is absent); ``addresses`` are the IPs of
    the interfaces the machine's default routes leave by, the ones others reach it at.
    """

    node: str
    boot_id: str
    dmi: dict[str, str]
    addresses: tuple[str, ...]


def version_of(subprotocol: str | None) -> int:
    """The frame version a connection may carry, from the subprotocol its controller chose."""
    return HOST_VERSION if subprotocol == SUBPROTOCOLS[0] else PROTOCOL_VERSION


def encode_host(facts: HostFacts) -> str:
    """The facts as one compact v2 frame."""
    return _ENCODER.encode({"v": HOST_VERSION, "type": "host", "node": facts.node,
                            "boot_id": facts.boot_id, "dmi": facts.dmi,
                            "addresses": list(facts.addresses)})


def decode_message(data: str | bytes, *, version: int) -> PressureSample | HostFacts:
    """A sample, or on a v2 connection a host frame; :class:`FrameError` otherwise."""
    obj = parse_frame(data)
    if version >= HOST_VERSION and obj.get("v") == HOST_VERSION \
            and type(obj.get("v")) is int:
        return _host_of(obj)
    return sample_of(obj)


def _host_of(obj: dict[str, Any]) -> HostFacts:
    check_fields(obj, _FIELDS, kind="host")
    return HostFacts(node=text_field(obj, "node"), boot_id=text_field(obj, "boot_id"),
                     dmi=_dmi(obj["dmi"]), addresses=_addresses(obj["addresses"]))


def _dmi(table: Any) -> dict[str, str]:
    return text_table(table, "dmi", frozenset(DMI_FIELDS), noun="field", longest=MAX_TEXT)


def _addresses(value: Any) -> tuple[str, ...]:
    if type(value) is not list or len(value) > MAX_ADDRESSES:
        raise FrameError("schema", f"addresses must be a list of at most {MAX_ADDRESSES}, "
                                   f"got {value!r}")
    for address in value:
        try:
            if type(address) is not str:
                raise ValueError("not a string")
            ipaddress.ip_address(address)
        except ValueError as error:
            raise FrameError("schema", f"bad IP address {address!r}") from error
    return tuple(value)
