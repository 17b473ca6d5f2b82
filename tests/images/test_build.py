"""The images build from docker/Dockerfile, say what they are, and stay within their budget."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.images.engine import ROOT, VERSION, Built, build_images, podman, run

DOCKERFILE = ROOT / "docker" / "Dockerfile"

pytestmark = [pytest.mark.integration, pytest.mark.images, pytest.mark.root]

LABEL_PREFIX = "org.opencontainers.image."
BUDGET_MB = {"agent": 650, "controller": 400}
"""Uncompressed sizes as podman reports them (docs/images.md gives these figures)."""


def inspect(ref: str, template: str) -> str:
    done = podman("image", "inspect", "--format", template, ref)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_both_targets_are_built_and_named_for_the_version(built: Built) -> None:
    assert built.refs == {"agent": f"localhost/bamel/agent:{VERSION}",
                          "controller": f"localhost/bamel/controller:{VERSION}"}


@pytest.mark.parametrize("target", ["agent", "controller"])
def test_sizes_are_printed_and_within_budget(built: Built, target: str) -> None:
    size_mb = int(inspect(built.refs[target], "{{.Size}}")) / 1e6
    assert built.printed_mb[target] == round(size_mb)
    assert size_mb <= BUDGET_MB[target], f"{target} is {size_mb:.0f} MB"


@pytest.mark.parametrize("target", ["agent", "controller"])
def test_images_carry_the_oci_labels(built: Built, target: str) -> None:
    labels = {key: inspect(built.refs[target], f'{{{{index .Labels "{LABEL_PREFIX}{key}"}}}}')
              for key in ("version", "revision", "source")}
    assert labels["version"] == VERSION
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert labels["revision"] in (head, f"{head}-dirty")
    assert labels["source"]


@pytest.mark.parametrize("target", ["agent", "controller"])
def test_bamel_help_runs_in_the_image(built: Built, target: str) -> None:
    done = run(built.refs[target], flags=["--network", "none"], args=["--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: bamel")
    default = run(built.refs[target], flags=["--network", "none"], args=[])
    assert default.returncode == 0, default.stderr
    assert default.stdout.startswith(f"usage: bamel {target}")  # the image's own CMD


def test_a_second_build_reuses_every_layer(built: Built) -> None:
    before = {target: inspect(ref, "{{.Id}}") for target, ref in built.refs.items()}
    again = build_images()
    assert {target: inspect(ref, "{{.Id}}") for target, ref in again.refs.items()} == before


def test_replaced_images_are_pruned_and_the_build_stage_kept(built: Built) -> None:
    dangling = podman("images", "--quiet", "--filter", "dangling=true")
    assert dangling.returncode == 0 and dangling.stdout == "", dangling.stdout
    assert podman("image", "exists", f"localhost/bamel/build:{VERSION}").returncode == 0


@pytest.mark.parametrize("target", ["agent", "controller"])
def test_the_builds_pip_settings_left_nothing_in_root(built: Built, target: str) -> None:
    done = run(built.refs[target], flags=["--network", "none", "--user", "0",
                                          "--entrypoint", "ls"], args=["-A", "/root"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [".bashrc", ".profile"]


def test_the_base_is_debians_slim_bookworm_under_the_dockerfiles_name(built: Built) -> None:
    base = "docker.io/library/debian:12.11-slim"
    assert f"FROM {base.removeprefix('docker.io/library/')} AS build" in DOCKERFILE.read_text()
    done = run(base, flags=["--network", "none"], args=[
        "sh", "-c", "cat /etc/debian_version /etc/apt/sources.list.d/debian.sources "
                    "/etc/dpkg/dpkg.cfg.d/docker /etc/apt/apt.conf.d/docker-clean"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("12.")
    assert "Suites: bookworm bookworm-updates" in done.stdout
    assert "Suites: bookworm-security" in done.stdout
    for excluded in ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*"):
        assert f"path-exclude {excluded}" in done.stdout  # the "slim" variant
    assert "rm -f /var/cache/apt/archives/*.deb" in done.stdout  # apt cleans after itself


def test_podman_runs_runc_with_cgroupfs_and_the_hosts_limits_from_the_cache() -> None:
    done = podman("info", "--format",
                  "{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphRoot}}")
    assert done.returncode == 0, done.stderr
    runtime, manager, graphroot = done.stdout.split()
    assert (runtime, manager) == ("runc", "cgroupfs")
    cache = Path(os.environ.get("BAMEL_CACHE", "/var/cache/bamel"))
    assert Path(graphroot) == cache / "containers" / "storage"


def test_containers_keep_the_hosts_open_file_limit(built: Built) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    done = run(built.refs["controller"], flags=["--network", "none", "--entrypoint", "sh"],
               args=["-c", "ulimit -Hn"])
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == hard
