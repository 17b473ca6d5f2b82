"""What the project ships, read the way a cluster reads it: kustomize output and the dashboard.

The manifests are built with kubectl's own kustomize (what ``kubectl apply -k`` runs),
so the tests look at exactly the objects an operator installs, not at the source files.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DAEMONSET = ROOT / "daemonset"
DASHBOARD = DAEMONSET / "grafana" / "dashboard.json"
CONFIG = DAEMONSET / "config" / "config.yaml"
EXAMPLES = DAEMONSET / "examples"
INSTALL = ROOT / "dist" / "install.yaml"
"""`make dist`: the objects of DAEMONSET in one file (tests/ship/test_install_file.py)."""
NAMESPACE = "bamel-system"
CONTROLLER_SA = f"system:serviceaccount:{NAMESPACE}:bamel-controller"
AGENT_SA = f"system:serviceaccount:{NAMESPACE}:bamel-agent"

Manifest = dict[str, Any]


def kustomize(path: Path = DAEMONSET) -> list[Manifest]:
    """The objects ``kubectl apply -k path`` would send, in order."""
    done = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                          check=True, timeout=60)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    """The one object of this kind and name; AssertionError naming what is there."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    present = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert len(matches) == 1, f"{kind}/{name} not exactly once in {present}"
    return matches[0]


def container(workload: Manifest) -> Manifest:
    """The single container of a Deployment or DaemonSet."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def to_yaml(objects: list[Manifest]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig."""

    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
                              input=stdin, capture_output=True, text=True, check=check,
                              timeout=60)

    def can_i(self, user: str, *args: str) -> bool:
        """``kubectl auth can-i ARGS --as=user``: yes (exit 0) or no (exit 1)."""
        done = self.run("auth", "can-i", *args, f"--as={user}", check=False)
        answer = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        assert answer in ("yes", "no"), f"can-i {args}: {done.stdout} {done.stderr}"
        return answer == "yes"


# --- the dashboard ----------------------------------------------------------------------

RESOURCES = ("cpu", "memory", "network")


@dataclass(frozen=True)
class PanelQuery:
    """One PromQL query of one panel, with Grafana's variables filled in."""

    panel: str
    expr: str
    instant: bool


def load_dashboard() -> Manifest:
    result: Manifest = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return result


def panels(dashboard: Manifest) -> Iterator[Manifest]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: Manifest, *, range_s: int, rate_interval: str) -> list[PanelQuery]:
    """Each panel's queries as Grafana would send them with every variable at "All".

    A panel repeated over ``resource`` becomes one query per resource, as Grafana
    repeats it; ``$__range`` is the dashboard's time range.
    """
    result = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            values = RESOURCES if panel.get("repeat") == "resource" else (None,)
            for resource in values:
                expr = _substitute(target["expr"], resource=resource, range_s=range_s,
                                   rate_interval=rate_interval)
                title = panel["title"].replace("$resource", resource or "")
                result.append(PanelQuery(title, expr, bool(target.get("instant"))))
    return result


def _substitute(expr: str, *, resource: str | None, range_s: int, rate_interval: str) -> str:
    replacements = {
        "$__rate_interval": rate_interval, "$__range_s": str(range_s),
        "$__range": f"{range_s}s", "$pool": ".*", "$node": ".*",
    }
    if resource is not None:
        replacements["$resource"] = resource
    for variable, value in replacements.items():
        expr = expr.replace(variable, value)
    leftover = re.findall(r"\$\w+", expr)
    assert not leftover, f"unknown variables {leftover} in {expr}"
    return expr
