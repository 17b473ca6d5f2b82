"""A real API server (v1.20) accepts the install, the examples, and the old-kernel variant."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.ship.shipped import (
    DAEMONSET,
    EXAMPLES,
    INSTALL,
    Kubectl,
    Manifest,
    container,
    find,
    kustomize,
)

pytestmark = pytest.mark.integration


def dry_run(kubectl: Kubectl, *args: str) -> str:
    done = kubectl.run("apply", "--dry-run=server", *args, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_apply_k_is_accepted(kubectl: Kubectl, installed: list[Manifest]) -> None:
    out = dry_run(kubectl, "-k", str(DAEMONSET))
    for obj in installed:  # every object is in kubectl's report
        assert f"/{obj['metadata']['name']} " in out, f"{obj['kind']}/{obj['metadata']['name']}"
    assert "deployment.apps/bamel-controller" in out
    assert "daemonset.apps/bamel-agent" in out


def test_the_install_file_is_accepted_by_server_side_apply(
        kubectl: Kubectl, installed: list[Manifest]) -> None:
    """dist/install.yaml as one server-side apply: every object, validated by the server."""
    out = dry_run(kubectl, "--server-side", "-f", str(INSTALL))
    for obj in installed:
        assert f"/{obj['metadata']['name']} serverside-applied (server dry run)" in out, (
            f"{obj['kind']}/{obj['metadata']['name']}")


def test_a_mistake_in_a_manifest_is_refused(kubectl: Kubectl, installed: list[Manifest],
                                            tmp_path: Path) -> None:
    """The dry run validates: a misspelt field in the Deployment is an error."""
    broken = yaml.safe_load((DAEMONSET / "controller" / "deployment.yaml").read_text())
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = kubectl.run("apply", "--dry-run=server", "-f", str(path), check=False)
    assert done.returncode != 0
    assert "terminationGracePeriod" in done.stderr


def test_the_crds_accept_the_examples(kubectl: Kubectl, installed: list[Manifest]) -> None:
    out = dry_run(kubectl, "-f", str(EXAMPLES))
    for name in ("cpu-heavy-1", "mem-heavy-1", "small-1", "gpu-1"):
        assert f"baremetalnode.bamel.io/{name} created (server dry run)" in out
    assert "nodepool.bamel.io/general created (server dry run)" in out
    assert "secret/bamel-agent-tokens created (server dry run)" in out


def test_the_crds_refuse_a_machine_without_a_known_driver(
        kubectl: Kubectl, installed: list[Manifest]) -> None:
    machine = next(yaml.safe_load_all((EXAMPLES / "baremetalnodes.yaml").read_text()))
    machine["spec"]["power"]["on"]["driver"] = "telnet"
    done = kubectl.run("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(machine),
                       check=False)
    assert done.returncode != 0
    assert "telnet" in done.stderr


def test_old_kernel_component_grants_sys_admin_instead(
        kubectl: Kubectl, installed: list[Manifest], tmp_path: Path) -> None:
    """An operator's overlay, as docs/install.md shows it (kustomize wants relative paths)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(DAEMONSET, overlay)
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{base}]\ncomponents: [{base}/components/cap-sys-admin]\n")
    agent = find(kustomize(overlay), "DaemonSet", "bamel-agent")
    capabilities = container(agent)["securityContext"]["capabilities"]
    assert capabilities == {"drop": ["ALL"], "add": ["SYS_ADMIN", "SYS_RESOURCE"]}
    assert container(agent)["securityContext"]["privileged"] is False
    assert "daemonset.apps/bamel-agent" in dry_run(kubectl, "-k", str(overlay))
