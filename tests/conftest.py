"""Session-wide real peers shared by the integration tests.

One Kubernetes control plane serves the whole session: it starts in about five
seconds, and tests isolate themselves by namespace and by node name instead of
paying for a fresh one each.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.controlplane import BINARIES, ControlPlane
from tests.power.fakes import fake_power_driver

__all__ = ["fake_power_driver"]  # a fixture any test directory may ask for

CRDS = Path(__file__).resolve().parent.parent / "daemonset" / "crds"


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A running etcd + apiserver + scheduler + controller-manager, with the CRDs applied."""
    if not (BINARIES / "kube-apiserver").exists():
        pytest.skip(f"no control plane binaries in {BINARIES}: run `make system`")
    with ControlPlane() as plane:
        apply_crds(plane)
        os.environ.setdefault("BAMEL_TEST_KUBECONFIG", str(plane.kubeconfig))
        yield plane


def apply_crds(plane: ControlPlane) -> None:
    """The project's CustomResourceDefinitions, established, on plane."""
    kubectl = ["kubectl", f"--kubeconfig={plane.kubeconfig}"]
    subprocess.run([*kubectl, "apply", "-f", str(CRDS)], check=True, capture_output=True)
    subprocess.run([*kubectl, "wait", "--for=condition=Established", "--timeout=60s",
                    "crd", "--all"], check=True, capture_output=True)
