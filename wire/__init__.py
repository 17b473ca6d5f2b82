"""The wire protocol shared by the agent and the controller: small, versioned, dependency-free."""

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
    "MAX_FRAME_BYTES",
    "PRESSURE_RESOURCES",
    "PROTOCOL_VERSION",
    "FrameError",
    "PressureSample",
    "decode_frame",
    "encode_sample",
]
