"""dist/install.yaml is `kubectl apply -k daemonset/` in one file, current and pinned.

The file is committed so that it can be downloaded on its own; these tests keep it
equal to what `make dist` renders now (tests/ship/test_apiserver.py sends it to a
real API server).
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.ship.shipped import INSTALL, ROOT, Manifest, kustomize

VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PLACEHOLDER = "registry.example.com/bamel/"
DOCS = ROOT / "docs" / "install.md"


def render(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(root / "scripts" / "render-install.sh")],
                          capture_output=True, text=True, timeout=60, check=False)


def split(text: str) -> tuple[list[str], list[Manifest]]:
    """The leading comment lines, and the objects."""
    header = [line for line in text.splitlines() if line.startswith("#")]
    return header, [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module")
def committed() -> list[Manifest]:
    return split(INSTALL.read_text())[1]


def test_the_committed_file_is_what_make_dist_renders() -> None:
    done = render()
    assert done.returncode == 0, done.stderr
    assert split(INSTALL.read_text()) == split(done.stdout), "run `make dist` and commit"


def test_it_holds_every_object_of_the_kustomization(committed: list[Manifest]) -> None:
    assert committed == kustomize()


def test_namespace_and_crds_come_first(committed: list[Manifest]) -> None:
    kinds = [obj["kind"] for obj in committed]
    assert kinds[:3] == ["Namespace", "CustomResourceDefinition", "CustomResourceDefinition"]
    assert "CustomResourceDefinition" not in kinds[3:]


def test_images_are_pinned_to_the_project_version(committed: list[Manifest]) -> None:
    images = sorted(container["image"] for obj in committed
                    if obj["kind"] in ("Deployment", "DaemonSet")
                    for container in obj["spec"]["template"]["spec"]["containers"])
    assert images == [f"{PLACEHOLDER}agent:{VERSION}", f"{PLACEHOLDER}controller:{VERSION}"]


def test_docs_sed_points_the_images_and_nothing_else_at_a_registry(
        committed: list[Manifest]) -> None:
    """docs/install.md's command, as written there."""
    command = next(line.strip() for line in DOCS.read_text().splitlines()
                   if line.strip().startswith("sed ") and "dist/install.yaml" in line)
    sed = command.split(" | kubectl", 1)[0].replace("REGISTRY", "registry.local:5000")
    done = subprocess.run(["bash", "-c", sed], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=30)
    pointed = split(done.stdout)[1]
    changed = [(old, new) for old, new in zip(committed, pointed, strict=True) if old != new]
    assert [new["kind"] for _, new in changed] == ["Deployment", "DaemonSet"]
    for old, new in changed:
        image = new["spec"]["template"]["spec"]["containers"][0].pop("image")
        assert image.startswith("registry.local:5000/bamel/") and image.endswith(f":{VERSION}")
        old["spec"]["template"]["spec"]["containers"][0].pop("image")
        assert old == new


def test_an_image_tag_other_than_the_version_is_refused(tmp_path: Path) -> None:
    for part in ("scripts", "daemonset"):
        shutil.copytree(ROOT / part, tmp_path / part)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    kustomization = tmp_path / "daemonset" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        f"newTag: {VERSION}", "newTag: 0.0.9", 1))
    done = render(tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"not tagged {VERSION}" in done.stderr and ":0.0.9" in done.stderr
