"""Who may stream for which node: bearer tokens from a mounted Secret.

The Secret holds one key per node whose value is that node's token, so a stolen
token can only ever speak for one node. Mounted as a directory, each file is a
node name holding its token; a YAML/JSON file mapping node → token works too.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from controller.config.loading import parse_yaml


class Authenticator(Protocol):
    """Says which node a connection's ``Authorization`` header may report for."""

    async def node_for(self, authorization: str | None) -> str | None:
        """The node, or None to refuse the connection."""
        ...


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer "):].strip() or None


class TokenAuthenticator:
    """Maps a bearer token to the one node it may report for."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._by_token = {token: node for node, token in tokens.items() if token}

    async def node_for(self, authorization: str | None) -> str | None:
        """The node the ``Authorization: Bearer …`` header speaks for, or None."""
        presented = bearer(authorization)
        if presented is None:
            return None
        for token, node in self._by_token.items():
            if hmac.compare_digest(token, presented):
                return node
        return None


class FirstAuthenticator:
    """Tries each authenticator in turn: static tokens first, then TokenReview."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    async def node_for(self, authorization: str | None) -> str | None:
        for authenticator in self.authenticators:
            node = await authenticator.node_for(authorization)
            if node is not None:
                return node
        return None


def load_tokens(path: str | Path) -> dict[str, str]:
    """Node → token from a Secret mounted as a directory, or a YAML/JSON mapping file."""
    source = Path(path)
    if source.is_dir():
        return {entry.name: entry.read_text(encoding="utf-8").strip()
                for entry in sorted(source.iterdir())
                if entry.is_file() and not entry.name.startswith(".")}
    document = parse_yaml(source.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in document.items()):
        raise ValueError(f"{source}: expected a mapping of node name to token")
    return dict(document)
