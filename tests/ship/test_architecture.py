"""docs/architecture.md stays the map of the tree: every top-level package the
project ships and every module or subpackage of ``controller`` has its line there,
and every module the page names exists. The import rules it states are checked by
the import-linter contracts that ``make lint`` runs; this checks the prose side."""

from __future__ import annotations

import re
import tomllib

from tests.ship.shipped import ROOT

PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"]


def controller_parts() -> list[str]:
    """``reactor.py``, ``planning/``...: the names the module table uses."""
    parts = []
    for path in sorted((ROOT / "controller").iterdir()):
        if path.name.startswith("_") or path.name == "__pycache__":
            continue
        if path.is_dir():
            parts.append(f"{path.name}/")
        elif path.suffix == ".py":
            parts.append(path.name)
    return parts


def test_every_top_level_package_has_a_row() -> None:
    missing = [name for name in PACKAGES if f"| `{name}/` |" not in PAGE]
    assert not missing, f"docs/architecture.md has no layer row for {missing}"


def test_every_controller_module_has_a_row() -> None:
    missing = [part for part in controller_parts() if f"| `{part}` |" not in PAGE]
    assert not missing, f"docs/architecture.md has no module row for {missing}"


def test_every_named_path_exists() -> None:
    named = set(re.findall(r"`((?:agent|controller|scoring|simulation|wire|faults|lab|bamel)"
                           r"/[\w/]+\.py)`", PAGE))
    assert named, "the page names no module"
    gone = sorted(path for path in named if not (ROOT / path).exists())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def test_every_table_row_names_something_real() -> None:
    rows = re.findall(r"^\| `([\w.]+/?)` \|", PAGE, flags=re.MULTILINE)
    stale = [row for row in rows
             if row.rstrip("/") not in PACKAGES and row not in controller_parts()]
    assert not stale, f"docs/architecture.md has rows for what no longer exists: {stale}"
