"""The images as ``make images`` builds them, and podman as the project configures it.

Everything goes through the project's own scripts (scripts/build-images.sh and
scripts/podman.sh), so the tests build, store and run images exactly as `make images`
and an operator on this kind of machine do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-images.sh"
PODMAN = ROOT / "scripts" / "podman.sh"
TOOLS = ("podman", "runc", "debootstrap", "debuerreotype-slimify")
VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
BUILD_TIMEOUT = 3600.0
"""Seconds: a cold build (base image and every layer) took 4 to 8 minutes on 2 cores."""


@dataclass(frozen=True)
class Built:
    """The build's report: each image's reference and the size it printed, in MB."""

    refs: dict[str, str]
    printed_mb: dict[str, int]
    output: str


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def build_images() -> Built:
    """Run the build (quick when nothing changed); what it printed, per target."""
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    refs, sizes = {}, {}
    for line in done.stdout.splitlines():
        match = re.fullmatch(r"(\S+/bamel/(\w+):\S+) (\d+) MB", line)
        if match:
            refs[match[2]] = match[1]
            sizes[match[2]] = int(match[3])
    return Built(refs, sizes, done.stdout)


def podman(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PODMAN), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def run(image: str, *, flags: list[str], args: list[str],
        timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """``podman run --rm`` that removes its container even when it outlives the timeout."""
    name = f"bamel-test-{uuid.uuid4().hex[:8]}"
    try:
        return podman("run", "--rm", "--name", name, *flags, image, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        podman("rm", "--force", "--time", "0", name)
        raise


def is_root() -> bool:
    return os.geteuid() == 0
