"""Who this node is: name, boot id, NIC MAC addresses, link capacity, and the machine
behind it (DMI identity, addresses).

The controller learns MACs from the stream to wake the machine later over LAN, tells
a reboot from a reconnect by the boot id, and keeps the machine's vendor, product,
serial and addresses with its record, so a person never types them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from wire import HostFacts
from wire.host import MAX_ADDRESSES, MAX_TEXT

SYS_NET = Path("/sys/class/net")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NO_MAC = "00:00:00:00:00:00"
SYS_DMI = Path("/sys/class/dmi/id")
PROC_NET = Path("/proc/net")
DMI_FILES = {"vendor": "sys_vendor", "product": "product_name", "serial": "product_serial"}
"""The firmware's words for the machine (SMBIOS system information); the serial is
readable by root only, which the DaemonSet's privileged agent is."""


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


def dmi(root: Path = SYS_DMI) -> dict[str, str]:
    """Vendor, product and serial as the firmware gives them; absent when unreadable or
    blank (a virtual machine or a board left unprogrammed)."""
    found: dict[str, str] = {}
    for field, name in DMI_FILES.items():
        try:
            value = " ".join((root / name).read_text(errors="replace").split())
        except OSError:
            continue
        if value:
            found[field] = value[:MAX_TEXT]
    return found


def default_route_interfaces(proc_net: Path = PROC_NET) -> set[str]:
    """Interfaces an IPv4 or IPv6 default route leaves by: the machine's own, as the
    kubelet picks a node's address, never a pod network's bridge or tunnel."""
    names: set[str] = set()
    for line in _lines(proc_net / "route")[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            names.add(fields[0])
    for line in _lines(proc_net / "ipv6_route"):
        fields = line.split()
        if len(fields) >= 10 and int(fields[0], 16) == 0 and fields[1] == "00" \
                and fields[9] != "lo":
            names.add(fields[9])
    return names


def host_addresses(interfaces: set[str]) -> tuple[str, ...]:
    """The global IPv4 and IPv6 addresses of those interfaces, sorted; link-local and
    loopback ones reach nothing from another machine and are left out."""
    found: set[str] = set()
    for name, addresses in psutil.net_if_addrs().items():
        if name not in interfaces:
            continue
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(address.address.split("%")[0])
            if not (ip.is_link_local or ip.is_loopback):
                found.add(str(ip))
    return tuple(sorted(found))[:MAX_ADDRESSES]


def host_facts(identity: NodeIdentity, *, dmi_root: Path = SYS_DMI,
               proc_net: Path = PROC_NET) -> HostFacts:
    """What the agent tells a controller of its machine at each connection (read anew
    each time: an address can change while the agent runs)."""
    return HostFacts(node=identity.node, boot_id=identity.boot_id, dmi=dmi(dmi_root),
                     addresses=host_addresses(default_route_interfaces(proc_net)))


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []
