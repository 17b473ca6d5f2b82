"""The simulator stays offline: the import contract that keeps it off the
controller's live parts names every one of them, including parts added later."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import controller

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"controller.config", "controller.planning"}
"""What the simulator may use of the controller: the settings and the decisions."""


def test_the_offline_contract_forbids_every_other_part_of_the_controller() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    offline = next(c for c in contracts if c.get("source_modules") == ["simulation"]
                   and "controller.kube" in c["forbidden_modules"])
    assert not offline.get("allow_indirect_imports", False)
    parts = {f"controller.{module.name}" for module in pkgutil.iter_modules(controller.__path__)}
    missing = parts - ALLOWED - set(offline["forbidden_modules"])
    assert not missing, f"add {sorted(missing)} to the simulator's forbidden_modules"
    assert parts >= ALLOWED
