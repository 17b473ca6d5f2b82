"""The images carry the controller, not the simulator's plotting: the ``simulate``
extra (matplotlib) is neither a runtime dependency nor pinned for the images, the
images install the project without extras, and ``make test`` still gets it."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.ship.shipped import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(lines: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in lines}


def test_the_simulate_extra_stays_out_of_the_images() -> None:
    simulate = names(PROJECT["optional-dependencies"]["simulate"])
    assert "matplotlib" in simulate
    assert not simulate & names(PROJECT["dependencies"])
    pinned = {canonicalize_name(line.split("==", 1)[0]) for raw in
              (ROOT / "docker" / "requirements.txt").read_text().splitlines()
              if (line := raw.split("#", 1)[0].strip())}
    assert not simulate & pinned
    install = re.findall(r"pip install [^\n]*--no-deps[^\n]* \.(\S*)$",
                         (ROOT / "docker" / "Dockerfile").read_text(), re.MULTILINE)
    assert install == [""], "the project is installed without extras"


def test_the_test_extra_includes_the_simulate_extra() -> None:
    extras = [Requirement(line) for line in PROJECT["optional-dependencies"]["test"]]
    assert any(r.name == PROJECT["name"] and "simulate" in r.extras for r in extras)
