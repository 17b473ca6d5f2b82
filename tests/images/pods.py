"""A Deployment's or DaemonSet's container as ``podman run`` flags, the way a kubelet runs it.

The smoke tests run the images with the privileges, users, mounts and read-only root
the shipped manifests give them, so what is read from the manifest here is what a
cluster would apply: a field of the pod or container security context this module
does not know is an error, never silently dropped. Kubernetes 1.20's defaults are
kept where the manifest is silent (no seccomp profile means Unconfined there).

Secrets have no API server behind them here: the test hands in their files, and they
are laid out as the kubelet does (``defaultMode``, group ``fsGroup``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Manifest = dict[str, Any]

POD_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
CONTAINER_SECURITY = {"privileged", "runAsNonRoot", "runAsUser", "runAsGroup",
                      "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities",
                      "seccompProfile"}
SIZE_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


class Unsupported(Exception):
    """The manifest asks for something this translation does not reproduce."""


@dataclass
class PodRun:
    """One workload's container, with what the kubelet would supply from outside."""

    workload: Manifest
    fields: dict[str, str] = field(default_factory=dict)
    """Values of ``fieldRef`` paths (``spec.nodeName``, ``metadata.namespace``...)."""
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Secret name → its keys and values."""
    workdir: Path = Path("/tmp")
    """Where the secrets' files are laid out for the bind mounts."""

    @property
    def pod(self) -> Manifest:
        spec: Manifest = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Manifest:
        containers = self.pod["containers"]
        if len(containers) != 1:
            raise Unsupported(f"{len(containers)} containers; one is translated")
        result: Manifest = containers[0]
        return result

    def env(self) -> dict[str, str]:
        """The container's environment: plain values and the fieldRefs handed in."""
        result = {}
        for variable in self.container.get("env", []):
            if "value" in variable:
                result[variable["name"]] = variable["value"]
            else:
                path = variable["valueFrom"]["fieldRef"]["fieldPath"]
                if path not in self.fields:
                    raise Unsupported(f"env {variable['name']}: no value for {path}")
                result[variable["name"]] = self.fields[path]
        return result

    def args(self) -> list[str]:
        """The manifest's args with ``$(VAR)`` expanded from the environment, as kubelet does."""
        env = self.env()
        return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), arg)
                for arg in self.container.get("args", [])]

    def flags(self) -> list[str]:
        """``podman run`` flags for the pod's network, identity, privileges and volumes."""
        result = ["--network", "host" if self.pod.get("hostNetwork") else "none"]
        for name, value in self.env().items():
            result += ["--env", f"{name}={value}"]
        return result + self._security() + self._volumes()

    def _security(self) -> list[str]:
        pod = self.pod.get("securityContext", {})
        container = self.container.get("securityContext", {})
        _known(pod, POD_SECURITY, "pod securityContext")
        _known(container, CONTAINER_SECURITY, "container securityContext")
        merged = {**pod, **container}
        result = []
        if "runAsUser" in merged:
            result += ["--user", f"{merged['runAsUser']}:{merged.get('runAsGroup', 0)}"]
        if merged.get("runAsNonRoot") and merged.get("runAsUser", 0) == 0:
            raise Unsupported("runAsNonRoot without a non-zero runAsUser: kubelet would "
                              "refuse it")
        if "fsGroup" in pod:
            result += ["--group-add", str(pod["fsGroup"])]
        if merged.get("privileged"):
            result.append("--privileged")
        if merged.get("allowPrivilegeEscalation") is False:
            result += ["--security-opt", "no-new-privileges"]
        if merged.get("readOnlyRootFilesystem"):
            result += ["--read-only", "--read-only-tmpfs=false"]
        capabilities = container.get("capabilities", {})
        result += [f"--cap-drop={cap}" for cap in capabilities.get("drop", [])]
        result += [f"--cap-add=CAP_{cap}" for cap in capabilities.get("add", [])]
        return result + self._seccomp(merged.get("seccompProfile"))

    @staticmethod
    def _seccomp(profile: Manifest | None) -> list[str]:
        if profile is None:  # Kubernetes before 1.27 runs containers unconfined by default
            return ["--security-opt", "seccomp=unconfined"]
        if profile["type"] == "RuntimeDefault":
            return []  # podman's own default profile, as containerd and CRI-O apply theirs
        raise Unsupported(f"seccompProfile {profile}")

    def _volumes(self) -> list[str]:
        volumes = {volume["name"]: volume for volume in self.pod.get("volumes", [])}
        result = []
        for mount in self.container.get("volumeMounts", []):
            volume, target = volumes[mount["name"]], mount["mountPath"]
            mode = "ro" if mount.get("readOnly") else "rw"
            if "hostPath" in volume:
                result += ["--volume", f"{volume['hostPath']['path']}:{target}:{mode}"]
            elif "emptyDir" in volume:
                size = _bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))
                result += ["--tmpfs", f"{target}:rw,size={size},mode=777"]
            elif "secret" in volume:
                source = self._secret_dir(volume["secret"])
                result += ["--volume", f"{source}:{target}:ro"]
            else:
                raise Unsupported(f"volume {volume}")
        return result

    def _secret_dir(self, secret: Manifest) -> Path:
        """The secret's keys as files, with the mode and group the kubelet gives them."""
        name = secret["secretName"]
        if name not in self.secrets:
            raise Unsupported(f"no contents given for Secret {name}")
        directory = self.workdir / f"secret-{name}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        group = self.pod.get("securityContext", {}).get("fsGroup", 0)
        for key, value in self.secrets[name].items():
            path = directory / key
            path.write_text(value)
            os.chown(path, 0, group)
            path.chmod(secret.get("defaultMode", 0o644))
        directory.chmod(0o755)
        return directory


def _known(context: Manifest, known: set[str], where: str) -> None:
    unknown = set(context) - known
    if unknown:
        raise Unsupported(f"{where}: {sorted(unknown)} not translated to podman")


def _bytes(quantity: str) -> int:
    for suffix, factor in SIZE_UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)
