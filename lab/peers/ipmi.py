"""OpenIPMI's ``ipmi_sim`` as a real IPMI-over-LAN BMC for one simulated machine.

The chassis is a shell hook (``chassis_control.sh``) that keeps the power state in a
file and logs every ``set power``; so a test asserts on what reached the BMC, not on
what the client believed it sent.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from lab.peers.process import LOOPBACK, PeerError, PeerProcess, TempDirPeer, free_port, udp_bound

HOOK = Path(__file__).with_name("chassis_control.sh")

LAN_CONF = """\
name "bamel-bmc"
set_working_mc 0x20
  startlan 1
    addr {address} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid {guid}
  endlan
  chassis_control "{hook} {state_dir} 0x20"
  user 1 true "" "" user 10 none md2 md5 straight
  user 2 true "{username}" "{password}" admin 10 none md2 md5 straight
"""

EMU = """\
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
"""


class IpmiSim(TempDirPeer):
    """``with IpmiSim() as bmc:`` then ``bmc.port``, ``bmc.power``, ``bmc.commands()``."""

    def __init__(self, *, username: str = "admin", password: str = "secret",
                 power_on: bool = False, delay_ms: int = 0) -> None:
        self.username = username
        self.password = password
        self.host = LOOPBACK
        self.port = 0
        self._initial = "1" if power_on else "0"
        self._delay_ms = delay_ms
        self._dir: Path | None = None
        self._process: PeerProcess | None = None

    @property
    def state_dir(self) -> Path:
        if self._dir is None:
            raise PeerError("ipmi_sim is not started")
        return self._dir / "chassis"

    @property
    def power(self) -> bool:
        """The chassis power as the BMC holds it (pending delayed changes not applied)."""
        return (self.state_dir / "power").read_text().strip() == "1"

    @property
    def chassis_on(self) -> bool:
        """The power as the machine itself has it: a delayed change counts once it is due,
        whether or not a client has asked the BMC since (the hook applies it only then)."""
        try:
            target, due = (self.state_dir / "pending").read_text().split()
        except (OSError, ValueError):
            return self.power
        if time.time() * 1000 >= int(due):
            return target == "1"
        return self.power

    def commands(self) -> list[str]:
        """Every ``set power N`` line the BMC received, in order."""
        log = self.state_dir / "commands.log"
        return log.read_text().splitlines() if log.exists() else []

    def timed_commands(self) -> list[tuple[float, str]]:
        """Every ``set power N`` line with the wall time (seconds) the BMC received it."""
        log = self.state_dir / "commands.timed"
        lines = log.read_text().splitlines() if log.exists() else []
        return [(int(at) / 1000, command) for at, command in
                (line.split(" ", 1) for line in lines)]

    def start(self) -> IpmiSim:
        binary = shutil.which("ipmi_sim")
        if binary is None:
            raise PeerError("ipmi_sim not found: install the openipmi package")
        self._dir = Path(tempfile.mkdtemp(prefix="bamel-ipmi-"))
        self.state_dir.mkdir()
        (self.state_dir / "power").write_text(self._initial + "\n")
        if self._delay_ms:
            (self.state_dir / "delay_ms").write_text(f"{self._delay_ms}\n")
        self.port = free_port(socket.SOCK_DGRAM)
        self._write_config()
        self._launch(binary)
        return self

    def kill_bmc(self) -> None:
        """Stop the BMC but keep the state directory, to test an unreachable BMC."""
        if self._process is not None:
            self._process.stop()

    def revive_bmc(self) -> None:
        """Start the BMC again after ``kill_bmc``: same port, same chassis state, as a
        BMC that comes back from a reboot or a network outage."""
        binary = shutil.which("ipmi_sim")
        if binary is None or self._dir is None:
            raise PeerError("ipmi_sim was never started")
        self._launch(binary)

    def _launch(self, binary: str) -> None:
        assert self._dir is not None
        self._process = PeerProcess(
            [binary, "-c", "lan.conf", "-f", "emu", "-s", str(self._dir / "sim"), "-n"],
            log_path=self._dir / "ipmi_sim.log", cwd=self._dir,
        )
        self._process.wait_ready(lambda: udp_bound(self.port), timeout=10, what="ipmi_sim")

    def _write_config(self) -> None:
        assert self._dir is not None
        (self._dir / "sim").mkdir()
        (self._dir / "lan.conf").write_text(LAN_CONF.format(
            address=self.host, port=self.port, guid=uuid.uuid4().hex,
            hook=HOOK, state_dir=self.state_dir,
            username=self.username, password=self.password,
        ))
        (self._dir / "emu").write_text(EMU)

    def __enter__(self) -> IpmiSim:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
