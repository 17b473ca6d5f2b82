"""OpenSSH's sshd as a real SSH peer that records the command it is asked to run.

Every authorized key carries a forced command (``record_command.sh``), so a client
that asks for ``systemctl poweroff`` gets its request written to a file and the
host keeps running; a test reads the file to see the exact command that arrived.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from lab.peers.process import LOOPBACK, PeerError, PeerProcess, TempDirPeer, free_port, tcp_accepts

RECORDER = Path(__file__).with_name("record_command.sh")
SSHD = "/usr/sbin/sshd"

CONFIG = """\
ListenAddress {address}
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
"""


class Sshd(TempDirPeer):
    """``with Sshd() as sshd:`` then ``sshd.port``, ``sshd.client_key``, ``sshd.commands()``."""

    def __init__(self, *, exit_code: int = 0) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.user = os.environ.get("USER") or "root"
        self.client_key = ""
        """The private key (OpenSSH PEM) the server accepts."""
        self.host_public_key = ""
        self._exit_code = exit_code
        self._dir: Path | None = None
        self._process: PeerProcess | None = None

    @property
    def known_hosts_line(self) -> str:
        """The line a known_hosts file needs to trust this server."""
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    def commands(self) -> list[str]:
        """Every command a client asked to run, in order."""
        assert self._dir is not None
        log = self._dir / "commands.log"
        return log.read_text().splitlines() if log.exists() else []

    def start(self) -> Sshd:
        if not Path(SSHD).exists():
            raise PeerError("sshd not found: install the openssh-server package")
        self._dir = Path(tempfile.mkdtemp(prefix="bamel-sshd-"))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
        host_key = self._keypair("host_key")
        client = self._keypair("client_key")
        self.host_public_key = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
        self.client_key = client.read_text()
        forced = f'command="{RECORDER} {self._dir / "commands.log"} {self._exit_code}"'
        (self._dir / "authorized_keys").write_text(
            f"{forced},no-pty,no-port-forwarding {client.with_suffix('.pub').read_text()}")
        self.port = free_port()
        (self._dir / "sshd_config").write_text(CONFIG.format(
            address=self.host, port=self.port, host_key=host_key,
            pid_file=self._dir / "sshd.pid", authorized_keys=self._dir / "authorized_keys"))
        self._process = PeerProcess([SSHD, "-D", "-e", "-f", str(self._dir / "sshd_config")],
                                    log_path=self._dir / "sshd.log", cwd=self._dir)
        self._process.wait_ready(lambda: tcp_accepts(self.port), timeout=10, what="sshd")
        return self

    def _keypair(self, name: str) -> Path:
        assert self._dir is not None
        path = self._dir / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                        "-f", str(path)], check=True, capture_output=True)
        # ssh-keygen names the public half NAME.pub; with_suffix(".pub") finds it.
        return path

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
