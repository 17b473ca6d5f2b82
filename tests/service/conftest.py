"""The controller service against the real control plane, a real BMC and hollow nodes."""

from __future__ import annotations

from tests.kube.conftest import hollow, kube, namespace

__all__ = ["hollow", "kube", "namespace"]
