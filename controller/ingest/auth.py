"""Who may stream for which node: bearer tokens from a mounted Secret.

The Secret holds one key per node whose value is that node's token, so a stolen
token can only ever speak for one node. Mounted as a directory, each file is a
node name holding its token; a YAML/JSON file mapping node → token works too.
"""

from __future__ import annotations

import hashlib
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
    """Maps a bearer token to the one node it may report for.

    Tokens are found by their SHA-256 digest, then compared in constant time: a
    connection costs the same with 10 tokens or 30,000 (a scan comparing each one cost
    milliseconds per connection at that size, and a restarted controller takes every
    agent's reconnection at once). The lookup's timing depends only on the digest,
    which says nothing an attacker can steer towards a valid token.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._by_digest = {_digest(_utf8(token)): (_utf8(token), node)
                           for node, token in tokens.items() if token}

    async def node_for(self, authorization: str | None) -> str | None:
        """The node the ``Authorization: Bearer …`` header speaks for, or None."""
        presented = bearer(authorization)
        if presented is None:
            return None
        offered = _utf8(presented)
        found = self._by_digest.get(_digest(offered))
        if found is None or not hmac.compare_digest(found[0], offered):
            return None
        return found[1]


def _utf8(token: str) -> bytes:
    """The token's bytes; any header text encodes (a lone surrogate too), so nothing raises."""
    return token.encode("utf-8", "surrogatepass")


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


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
