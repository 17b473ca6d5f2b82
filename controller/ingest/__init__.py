"""Ingest: the agents' pressure streams into per-node and per-pool numpy arrays."""

from controller.ingest.auth import (
    Authenticator,
    FirstAuthenticator,
    TokenAuthenticator,
    bearer,
    load_tokens,
)
from controller.ingest.retention import FORGET_AFTER, NodeRetention
from controller.ingest.server import IngestServer, IngestStats
from controller.ingest.store import PressureStore

__all__ = [
    "FORGET_AFTER",
    "Authenticator",
    "FirstAuthenticator",
    "IngestServer",
    "IngestStats",
    "NodeRetention",
    "PressureStore",
    "TokenAuthenticator",
    "bearer",
    "load_tokens",
]
