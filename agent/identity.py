"""Who this node is: name, boot id, NIC MAC addresses, link capacity.

The controller learns MACs from the stream to wake the machine later over LAN, and
tells a reboot from a reconnect by the boot id.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

SYS_NET = Path("/sys/class/net")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class NodeIdentity:
    """The fields of every sample that do not change while the agent runs."""

    node: str
    boot_id: str
    macs: tuple[str, ...]


def node_name() -> str:
    """``NODE_NAME`` (set by the DaemonSet from the downward API), else the host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


def boot_id(path: Path = BOOT_ID) -> str:
    """The kernel's random boot id, new on every boot."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def mac_addresses(sys_net: Path = SYS_NET) -> tuple[str, ...]:
    """Hardware addresses of the NICs (devices with a ``device`` link), sorted.

    Virtual devices (bridges, veths, loopback) cannot be woken and are left out.
    """
    macs: set[str] = set()
    for device in sorted(sys_net.glob("*")):
        if not (device / "device").exists():
            continue
        try:
            mac = (device / "address").read_text().strip().lower()
        except OSError:
            continue
        if len(mac) == len(NO_MAC) and mac != NO_MAC:
            macs.add(mac)
    return tuple(sorted(macs))


def link_bits_per_s(sys_net: Path = SYS_NET) -> float | None:
    """Sum of the reported speeds of NICs that are up, in bit/s; None if none report."""
    total = 0.0
    for device in sys_net.glob("*"):
        if not (device / "device").exists():
            continue
        try:
            if (device / "operstate").read_text().strip() != "up":
                continue
            mbit = int((device / "speed").read_text())
        except (OSError, ValueError):
            continue
        if mbit > 0:
            total += mbit * 1e6
    return total or None


def identify() -> NodeIdentity:
    """This node's identity, read once at start."""
    return NodeIdentity(node=node_name(), boot_id=boot_id(), macs=mac_addresses())
