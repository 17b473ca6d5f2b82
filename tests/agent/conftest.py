"""Fixtures for the agent tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

BCC_MISSING = 'raise ImportError("no module named bcc (hidden by the test)")\n'


@pytest.fixture
def shadow_bcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Put a ``bcc`` package with the given body first on every child's path.

    The loader process imports BCC, never the agent, so this is how a test makes BCC
    missing, crashing or hanging for the loader while the agent stays as it is.
    """

    def shadow(body: str = BCC_MISSING) -> Path:
        package = tmp_path / "shadow" / "bcc"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(body)
        path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH"))
                               if p)
        monkeypatch.setenv("PYTHONPATH", path)
        return package

    return shadow
