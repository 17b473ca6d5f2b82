"""Credentials for BMCs and SSH, loaded from a file or a Kubernetes Secret, never printed.

``controller.power`` must not import the Kubernetes client (one module owns it), so
Secrets arrive through an injected async reader. Keys follow the Kubernetes Secret
types: ``username``/``password`` (``kubernetes.io/basic-auth``) and
``ssh-privatekey`` (``kubernetes.io/ssh-auth``), plus the spellings a person writes
by hand in a local file (``privateKey``, ``private_key``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.config.schema import CredentialsRef
from controller.power.errors import PowerError

SecretReader = Callable[[str, str], Awaitable[Mapping[str, str | bytes]]]
"""``(name, namespace) -> decoded data`` of a Secret; raises KeyError when missing."""

_ALIASES: dict[str, tuple[str, ...]] = {
    "username": ("username", "user", "userName"),
    "password": ("password",),
    "private_key": ("ssh-privatekey", "privateKey", "private_key"),
    "passphrase": ("passphrase", "keyPassphrase"),
    "known_hosts": ("known_hosts", "knownHosts"),
}

REDACTED = "***"


@dataclass(frozen=True)
class Credentials:
    """Secret material for one machine; repr and str show which fields are set, not values."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    known_hosts: str | None = None

    def __repr__(self) -> str:
        secret_fields = ("password", "private_key", "passphrase")
        present = [name for name in secret_fields if getattr(self, name)]
        return f"Credentials(username={self.username!r}, secrets={present})"

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing text that came from outside."""
        return [value for value in (self.password, self.private_key, self.passphrase) if value]

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced, for output we did not write."""
        for value in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text


NO_CREDENTIALS = Credentials()


def require_login(credentials: Credentials, username: str | None, *, driver: str,
                  machine: str) -> tuple[str, str]:
    """(username, password) for a BMC login; the settings' username overrides the Secret's."""
    user = username or credentials.username
    if not user or credentials.password is None:
        raise PowerError(f"{driver} needs a username and a password in the credentials",
                         category="auth", driver=driver, machine=machine)
    return user, credentials.password


def credentials_from_mapping(data: Mapping[str, Any]) -> Credentials:
    """Pick the known keys out of a Secret's or a file's mapping; ignore the rest."""
    values: dict[str, str] = {}
    for field_name, keys in _ALIASES.items():
        for key in keys:
            value = data.get(key)
            if value is not None:
                values[field_name] = value.decode() if isinstance(value, bytes) else str(value)
                break
    return Credentials(**values)


async def load_credentials(
    ref: CredentialsRef | None, *, secret_reader: SecretReader | None = None
) -> Credentials:
    """Resolve a machine's credentials reference; ``NO_CREDENTIALS`` when there is none.

    A file wins over a Secret when both are named, so a local run can override a
    cluster's Secret without editing it.
    """
    if ref is None:
        return NO_CREDENTIALS
    if ref.file:
        return credentials_from_mapping(await _read_file(ref.file))
    if ref.secret:
        return credentials_from_mapping(await _read_secret(ref, secret_reader))
    return NO_CREDENTIALS


async def _read_file(path: str) -> Mapping[str, Any]:
    try:
        text = await asyncio.to_thread(Path(path).read_text)
    except OSError as error:
        raise PowerError(
            f"credentials file {path}: {error.strerror}", category="auth"
        ) from error
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        # The parser's message may quote the file's content, secrets included: drop it.
        raise PowerError(
            f"credentials file {path} is not valid YAML or JSON", category="auth"
        ) from None
    if not isinstance(data, Mapping):
        raise PowerError(f"credentials file {path} is not a mapping", category="auth")
    return data


async def _read_secret(ref: CredentialsRef, reader: SecretReader | None) -> Mapping[str, Any]:
    name = f"{ref.namespace}/{ref.secret}"
    if reader is None:
        raise PowerError(f"secret {name}: no secret reader configured", category="auth")
    assert ref.secret is not None
    try:
        return await reader(ref.secret, ref.namespace)
    except KeyError as error:
        raise PowerError(f"secret {name} not found", category="auth") from error
