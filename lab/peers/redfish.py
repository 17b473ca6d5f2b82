"""sushy-emulator with its fake driver, as a real Redfish service for simulated systems.

The fake driver needs no libvirt and applies a power change 1–11 s after the reset
request, like real hardware, so clients must poll. Basic auth (a bcrypt htpasswd)
and TLS (a self-signed certificate for 127.0.0.1) are switched on per instance.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import bcrypt

from lab.peers.process import LOOPBACK, PeerError, PeerProcess, TempDirPeer, free_port, tcp_accepts


@dataclass(frozen=True)
class FakeSystem:
    """One simulated machine behind the Redfish service."""

    name: str
    uuid: str
    power_state: str = "Off"
    mac: str = "52:54:00:00:00:01"


def fake_systems(count: int, *, prefix: str = "node", power_state: str = "Off") -> list[FakeSystem]:
    """``count`` systems named ``prefix-0``… with distinct UUIDs and MACs."""
    return [
        FakeSystem(f"{prefix}-{index}", str(uuid.uuid4()), power_state,
                   f"52:54:00:{index >> 16 & 0xff:02x}:{index >> 8 & 0xff:02x}:{index & 0xff:02x}")
        for index in range(count)
    ]


class SushyEmulator(TempDirPeer):
    """``with SushyEmulator(username=..., tls=True) as redfish:`` then ``redfish.url``."""

    def __init__(self, systems: list[FakeSystem] | None = None, *, username: str | None = None,
                 password: str | None = None, tls: bool = False) -> None:
        self.systems = systems if systems is not None else fake_systems(1)
        self.username = username
        self.password = password
        self.tls = tls
        self.host = LOOPBACK
        self.port = 0
        self.ca_file: Path | None = None
        """The self-signed certificate, to pass as a CA bundle; None without TLS."""
        self._dir: Path | None = None
        self._process: PeerProcess | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> SushyEmulator:
        self._dir = Path(tempfile.mkdtemp(prefix="bamel-redfish-"))
        self.port = free_port()
        config = self._dir / "emulator.conf"
        config.write_text(self._config_text())
        self._process = PeerProcess(
            [_emulator_binary(), "--config", str(config), "--fake"],
            log_path=self._dir / "emulator.log", cwd=self._dir,
        )
        self._process.wait_ready(lambda: tcp_accepts(self.port), timeout=20,
                                 what="sushy-emulator")
        return self

    def log_text(self) -> str:
        """The emulator's request log so far."""
        return self._process.log_tail(1_000_000) if self._process else ""

    def _config_text(self) -> str:
        assert self._dir is not None
        systems = [
            {"uuid": system.uuid, "name": system.name, "power_state": system.power_state,
             "external_notifier": False, "nics": [{"mac": system.mac, "ip": "127.0.0.1"}]}
            for system in self.systems
        ]
        lines = [
            f"SUSHY_EMULATOR_LISTEN_IP = {self.host!r}",
            f"SUSHY_EMULATOR_LISTEN_PORT = {self.port!r}",
            f"SUSHY_EMULATOR_STATE_DIR = {str(self._dir / 'state')!r}",
            "SUSHY_EMULATOR_FAKE_DRIVER = True",
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}",
        ]
        if self.username is not None and self.password is not None:
            lines.append(f"SUSHY_EMULATOR_AUTH_FILE = {str(self._write_htpasswd())!r}")
        if self.tls:
            cert, key = self._write_certificate()
            lines += [f"SUSHY_EMULATOR_SSL_CERT = {str(cert)!r}",
                      f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}"]
        return "\n".join(lines) + "\n"

    def _write_htpasswd(self) -> Path:
        assert self._dir is not None and self.username and self.password is not None
        digest = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        path = self._dir / "htpasswd"
        path.write_text(f"{self.username}:{digest}\n")
        return path

    def _write_certificate(self) -> tuple[Path, Path]:
        assert self._dir is not None
        cert, key = self._dir / "cert.pem", self._dir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={self.host}",
             "-addext", f"subjectAltName=IP:{self.host}"],
            check=True, capture_output=True,
        )
        self.ca_file = cert
        return cert, key

    def __enter__(self) -> SushyEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def _emulator_binary() -> str:
    """The ``sushy-emulator`` beside this Python (the venv), else on PATH."""
    beside = Path(sys.executable).with_name("sushy-emulator")
    found = str(beside) if beside.exists() else shutil.which("sushy-emulator")
    if not found:
        raise PeerError("sushy-emulator not found: install the sushy-tools package")
    return found
