"""A real Kubernetes control plane on loopback: etcd, apiserver, scheduler, controller-manager.

The controller's Kubernetes code is only worth what its peer is worth, so tests and
``bamel lab`` run the real v1.20 binaries (built once by scripts/bootstrap-system.sh)
rather than a fake. Everything binds 127.0.0.1 on free ports, lives in one temporary
directory, and is stopped by PID in reverse order of start.

Usage, sync or async::

    with ControlPlane() as plane:          # or: async with ControlPlane() as plane:
        plane.kubeconfig                   # path of an admin kubeconfig

The watch cache is off by default (``watch_cache=False``): watches are then served
by etcd itself, so compacting etcd (``compact()``) makes a stale watch end in
410 Gone exactly as an overflowing watch cache does in a large cluster.

For API server faults, ``stop_apiserver()`` kills kube-apiserver (etcd keeps the
data) and ``start_apiserver()`` starts it again on the same port with the same
certificate, so clients reconnect as to a restarted server; ``pause_apiserver()``
and ``resume_apiserver()`` (SIGSTOP, SIGCONT) make one that accepts connections and
never answers. ``audit=True`` writes every request's outcome to ``audit_log`` (JSON
lines), the server's own account of which calls it carried out.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

BINARIES = Path(os.environ.get("BAMEL_KUBE_BIN", "/var/cache/bamel/kube/current"))
"""Where the bootstrap caches kube-apiserver, kube-scheduler, kube-controller-manager."""

TOKEN = "bamel-admin-token"
"""Admin bearer token of the loopback test bed (never valid anywhere else)."""


class ControlPlaneError(RuntimeError):
    """A component did not start or become ready; the message carries its log tail."""


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-scheduler + kube-controller-manager on 127.0.0.1."""

    node_monitor_grace_period: float = 8.0
    """Seconds of silence before the node-lifecycle controller marks a node NotReady;
    short so that a stopped hollow node goes NotReady within a test's patience."""
    watch_cache: bool = False
    """See the module docstring: off so that etcd compaction reaches watchers as 410."""
    startup_timeout: float = 60.0
    audit: bool = False
    """Write the API server's audit log (``audit_log``): one line per request answered."""
    workdir: Path | None = None
    """Kept when given; a fresh temporary directory (removed at close) otherwise."""

    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    etcd_endpoint: str = ""
    _processes: list[_Process] = field(default_factory=list)
    _apiserver_argv: list[str] = field(default_factory=list)
    _own_workdir: bool = False

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start every component and wait until each is ready; clean up on failure."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="bamel-kube-"))
            self._own_workdir = True
        try:
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig()
            self._start_scheduler()
            self._start_controller_manager()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every component by PID, newest first; safe to call twice."""
        while self._processes:
            _stop(self._processes.pop())
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> ControlPlane:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    # --- helpers for tests and the lab ------------------------------------------

    def etcdctl(self, *args: str) -> str:
        """Run etcdctl against this plane's etcd and return its output."""
        env = {**os.environ, "ETCDCTL_API": "3"}
        done = subprocess.run(
            ["etcdctl", f"--endpoints={self.etcd_endpoint}", *args],
            capture_output=True, text=True, check=True, env=env, timeout=30,
        )
        return done.stdout

    def compact(self) -> int:
        """Compact etcd up to its current revision; return that revision."""
        status = json.loads(self.etcdctl("endpoint", "status", "-w", "json"))
        revision = int(status[0]["Status"]["header"]["revision"])
        self.etcdctl("compact", str(revision), "--physical")
        return revision

    @property
    def audit_log(self) -> Path:
        return self._dir / "audit.log"

    def stop_apiserver(self) -> None:
        """Kill kube-apiserver (SIGKILL, as a crash); etcd and the rest keep running."""
        process = self._process("kube-apiserver")
        self._processes.remove(process)
        process.popen.kill()
        process.popen.wait(10)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after ``stop_apiserver``: same port, same
        certificate (its cert dir keeps it), same etcd; returns once ready."""
        self._wait(self._spawn("kube-apiserver", self._apiserver_argv),
                   f"{self.server}/readyz", auth=True)

    def pause_apiserver(self) -> None:
        """SIGSTOP kube-apiserver: connections are accepted, nothing is answered."""
        os.kill(self.pid("kube-apiserver"), signal.SIGSTOP)

    def resume_apiserver(self) -> None:
        os.kill(self.pid("kube-apiserver"), signal.SIGCONT)

    def pid(self, name: str) -> int:
        """PID of a running component (``etcd``, ``kube-apiserver``...)."""
        return self._process(name).popen.pid

    def _process(self, name: str) -> _Process:
        for process in self._processes:
            if process.name == name:
                return process
        raise KeyError(name)

    # --- components --------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self._dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=self._dir,
                start_new_session=True,
            )
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_endpoint = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        process = self._spawn("etcd", [
            "etcd", "--name", "bamel", "--data-dir", str(self._dir / "etcd"),
            "--listen-client-urls", self.etcd_endpoint,
            "--advertise-client-urls", self.etcd_endpoint,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"bamel={peer_url}", "--unsafe-no-fsync",
        ])
        self._wait(process, f"{self.etcd_endpoint}/health", auth=False)

    def _start_apiserver(self) -> None:
        certs = self._dir / "certs"
        certs.mkdir(exist_ok=True)
        key = self._dir / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"],
                       check=True, capture_output=True)
        tokens = self._dir / "tokens.csv"
        tokens.write_text(f'{TOKEN},admin,1,"system:masters"\n')
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        argv = [
            str(BINARIES / "kube-apiserver"), f"--etcd-servers={self.etcd_endpoint}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={port}", "--insecure-port=0", f"--cert-dir={certs}",
            f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
            f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            f"--watch-cache={'true' if self.watch_cache else 'false'}",
        ]
        if self.audit:
            policy = self._dir / "audit-policy.json"
            policy.write_text(json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                          "omitStages": ["RequestReceived"],
                                          "rules": [{"level": "Metadata"}]}))
            argv += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]
        self._apiserver_argv = argv
        self.start_apiserver()

    def _write_kubeconfig(self) -> None:
        ca = self._dir / "certs" / "apiserver.crt"
        self.kubeconfig = self._dir / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "bamel",
            "clusters": [{"name": "bamel", "cluster": {
                "server": self.server, "certificate-authority": str(ca)}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "bamel", "context": {"cluster": "bamel", "user": "admin"}}],
        }, indent=2))

    def _start_scheduler(self) -> None:
        port = free_port()
        argv = [
            str(BINARIES / "kube-scheduler"), f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--port=0",
            "--leader-elect=false",
        ]
        self._wait(self._spawn("kube-scheduler", argv),
                   f"https://127.0.0.1:{port}/healthz", auth=False)

    def _start_controller_manager(self) -> None:
        port = free_port()
        grace = f"{self.node_monitor_grace_period:g}s"
        argv = [
            str(BINARIES / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--port=0",
            "--leader-elect=false", f"--service-account-private-key-file={self._dir / 'sa.key'}",
            f"--root-ca-file={self._dir / 'certs' / 'apiserver.crt'}",
            "--controllers=*,-serviceaccount-token",
            f"--node-monitor-grace-period={grace}", "--node-monitor-period=1s",
        ]
        self._wait(self._spawn("kube-controller-manager", argv),
                   f"https://127.0.0.1:{port}/healthz", auth=False)

    def _wait(self, process: _Process, url: str, *, auth: bool) -> None:
        """Poll url until it answers 200; fail with the log tail if the process dies."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ControlPlaneError(f"{process.name} exited:\n{process.tail()}")
            try:
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=2, context=context) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ControlPlaneError(f"{process.name} not ready at {url}:\n{process.tail()}")


def _stop(process: _Process, timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL if it lingers."""
    if process.popen.poll() is not None:
        return
    process.popen.send_signal(signal.SIGTERM)
    try:
        process.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        process.popen.kill()
        process.popen.wait(timeout)
