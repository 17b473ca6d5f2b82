"""Finding secrets in what the controller shows: logs, Events, objects, metrics, explain.

Reusable by any run that ends with a scan (the service test here, a chaos run). A
secret is looked for as written and base64-encoded at every byte alignment (a
Secret's ``data``, a dumped object, a request body carry it that way); a secret of
several lines (a private key) is also looked for line by line, so that a key cut
in half is still found. A finding names where and which secret, never its value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_FRAGMENT = 16
"""Lines of a multi-line secret shorter than this (PEM armour, blank lines) are not
looked for alone: they are not secret and would match innocent text."""


@dataclass(frozen=True)
class Secret:
    """A value that must never be shown, and what it is (for the finding)."""

    what: str
    value: str


def forms(value: str) -> list[tuple[str, str]]:
    """(form, text) pairs to look for: as is, its long lines, its base64 encodings."""
    found = [("as is", value)]
    lines = [line.strip() for line in value.splitlines()]
    if len(lines) > 1:
        found += [(f"line {n}", line) for n, line in enumerate(lines, 1)
                  if len(line) >= MIN_FRAGMENT and "PRIVATE KEY" not in line]
    raw = value.encode()
    for shift in range(3):  # the value's place in a larger encoded text
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        core = encoded[(8 * shift + 5) // 6:-4]
        if len(core) >= 8:
            found.append((f"base64 at offset {shift}", core))
    return found


def leaks(outputs: Mapping[str, str], secrets: Iterable[Secret]) -> list[str]:
    """``"where: what (form)"`` for every secret found in any output; empty when none."""
    findings = []
    for secret in secrets:
        for form, text in forms(secret.value):
            findings += [f"{where}: {secret.what} ({form})"
                         for where, output in outputs.items() if text in output]
    return findings
