"""Static agent tokens: each token speaks for exactly its node, whatever the header holds."""

from __future__ import annotations

import pytest

from controller.ingest import TokenAuthenticator

TOKENS = {f"node-{i}": f"token-{i:05d}-secret" for i in range(3000)}


@pytest.fixture
def authenticator() -> TokenAuthenticator:
    return TokenAuthenticator({**TOKENS, "node-without-token": ""})


async def test_every_token_finds_its_own_node(authenticator: TokenAuthenticator) -> None:
    for node, token in TOKENS.items():
        assert await authenticator.node_for(f"Bearer {token}") == node


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "token-00001-secret", "Basic token-00001-secret",
    "Bearer token-00001-secre", "Bearer token-00001-secretX", "Bearer TOKEN-00001-SECRET",
])
async def test_anything_but_an_exact_token_is_refused(authenticator: TokenAuthenticator,
                                                      header: str | None) -> None:
    assert await authenticator.node_for(header) is None


@pytest.mark.parametrize("header", ["Bearer tökén", "Bearer \udcff\udcfe", "Bearer \ud800"])
async def test_header_text_that_is_not_ascii_is_refused_not_raised(
        authenticator: TokenAuthenticator, header: str) -> None:
    assert await authenticator.node_for(header) is None


async def test_a_token_may_hold_any_text() -> None:
    authenticator = TokenAuthenticator({"node-a": "jeton-été"})
    assert await authenticator.node_for("Bearer jeton-été") == "node-a"
    assert await authenticator.node_for("Bearer jeton-ete") is None


async def test_a_node_with_an_empty_token_cannot_be_spoken_for() -> None:
    authenticator = TokenAuthenticator({"node-a": ""})
    assert await authenticator.node_for("Bearer ") is None
    assert await authenticator.node_for("Bearer") is None
