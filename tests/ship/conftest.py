"""The shipped install on the session control plane: what can exist there without a kubelet.

The Namespace, the CRDs, the ServiceAccounts and the RBAC objects are applied for
real (``kubectl auth can-i`` and the controller's own token need them to exist);
the workloads only ever go in as a server-side dry run, since this test bed has no
kubelet and the DaemonSet would otherwise land pods on other tests' hollow nodes.
"""

from __future__ import annotations

import pytest

from lab.controlplane import ControlPlane
from tests.ship.shipped import Kubectl, Manifest, kustomize, to_yaml

REAL_KINDS = {"Namespace", "CustomResourceDefinition", "ServiceAccount", "Role",
              "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl(control_plane.kubeconfig)


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl) -> list[Manifest]:
    """Every object of the install, the identities and their rights applied for real."""
    objects = kustomize()
    real = [o for o in objects if o["kind"] in REAL_KINDS]
    kubectl.run("apply", "-f", "-", stdin=to_yaml(real))
    return objects
