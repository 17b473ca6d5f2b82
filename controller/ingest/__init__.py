"""Ingest: the agents' pressure streams into per-node and per-pool numpy arrays."""

from controller.ingest.auth import TokenAuthenticator, load_tokens
from controller.ingest.server import IngestServer, IngestStats
from controller.ingest.store import PressureStore

__all__ = ["IngestServer", "IngestStats", "PressureStore", "TokenAuthenticator", "load_tokens"]
