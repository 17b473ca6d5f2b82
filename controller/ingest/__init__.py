"""Ingest: the agents' pressure streams into per-node and per-pool numpy arrays."""

from controller.ingest.auth import (
    Authenticator,
    FirstAuthenticator,
    TokenAuthenticator,
    bearer,
    load_tokens,
)
from controller.ingest.server import IngestServer, IngestStats
from controller.ingest.store import PressureStore

__all__ = [
    "Authenticator",
    "FirstAuthenticator",
    "IngestServer",
    "IngestStats",
    "PressureStore",
    "TokenAuthenticator",
    "bearer",
    "load_tokens",
]
