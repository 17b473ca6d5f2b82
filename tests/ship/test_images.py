"""The Dockerfile passes a real linter, and installs a complete, pinned set of packages.

These read the files: hadolint (with its embedded ShellCheck) at its strictest
threshold, and that docker/requirements.txt pins everything the project needs.
tests/images/ builds the images and runs them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.ship.shipped import ROOT

DOCKERFILE = ROOT / "docker" / "Dockerfile"
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
LINUX_PY311 = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux",
               "os_name": "posix", "platform_machine": "x86_64", "extra": ""}


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed: run `make system`")
    return subprocess.run([binary, "--failure-threshold", "style", "--no-color", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)


def test_dockerfile_is_clean_for_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_an_unpinned_package(tmp_path: Path) -> None:
    unpinned = tmp_path / "Dockerfile"
    unpinned.write_text(re.sub(r"python3-bpfcc=\S+", "python3-bpfcc", DOCKERFILE.read_text()))
    result = hadolint(unpinned)
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_images_build_on_a_pinned_base_and_stages_for_both_components() -> None:
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert {stage for _, stage in bases} == {"build", "agent", "controller"}
    assert all(re.fullmatch(r"debian:\d+\.\d+-slim", image) for image, _ in bases)
    controller = text.split("AS controller", 1)[1]
    assert re.search(r"^USER 65532:65532$", controller, re.MULTILINE)


def test_the_build_copies_every_package_the_project_installs() -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE.read_text(), re.MULTILINE))
    assert copied == packages


def test_requirements_pin_every_runtime_dependency_and_satisfy_it() -> None:
    pins = _pins()
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in {REQUIREMENTS.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}")


def test_requirements_are_closed_under_their_own_dependencies() -> None:
    """pip installs them with --no-deps, so whatever a pinned package needs is pinned too."""
    pins = _pins()
    checked = 0
    for name, version in pins.items():
        try:
            installed = distribution(name)
        except PackageNotFoundError:
            continue
        if installed.version != version:
            continue  # metadata of another version says nothing about this one
        checked += 1
        for line in installed.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate(LINUX_PY311):
                continue
            needed = canonicalize_name(requirement.name)
            assert needed in pins, f"{name} needs {needed}, which is not pinned"
    assert checked >= len(pins) // 2, "too few pins match the test environment to judge"


def _pins() -> dict[str, str]:
    pins = {}
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version, f"not pinned exactly: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins
