"""The wire protocol shared by the agent and the controller: small, versioned, dependency-free."""

from wire.host import (
    HOST_VERSION,
    SUBPROTOCOLS,
    HostFacts,
    decode_message,
    encode_host,
    version_of,
)
from wire.protocol import (
    FRAME_REASONS,
    MAX_FRAME_BYTES,
    PRESSURE_RESOURCES,
    PROTOCOL_VERSION,
    FrameError,
    PressureSample,
    decode_frame,
    encode_sample,
)

__all__ = [
    "FRAME_REASONS",
    "HOST_VERSION",
    "MAX_FRAME_BYTES",
    "PRESSURE_RESOURCES",
    "PROTOCOL_VERSION",
    "SUBPROTOCOLS",
    "FrameError",
    "HostFacts",
    "PressureSample",
    "decode_frame",
    "decode_message",
    "encode_host",
    "encode_sample",
    "version_of",
]
