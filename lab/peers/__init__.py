"""Launchers for the power peers: an IPMI BMC, a Redfish service, sshd, a WoL listener.

Each is a context manager that starts its peer on 127.0.0.1 on a free port in a
temporary directory, returns once it answers, and stops it by PID on exit.
"""

from lab.peers.ipmi import IpmiSim
from lab.peers.redfish import FakeSystem, SushyEmulator, fake_systems
from lab.peers.sshd import Sshd
from lab.peers.wol import WolListener, magic_packet

__all__ = ["FakeSystem", "IpmiSim", "Sshd", "SushyEmulator", "WolListener", "fake_systems",
           "magic_packet"]
