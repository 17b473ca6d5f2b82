"""The neighbour table as a MAC fallback for a machine known only by its IP.

Wake-on-LAN needs a MAC. The agent reports its machine's, but a machine whose agent
never ran is known to the controller only by the InternalIP its Node reports. The
kernel learns the MAC behind an IP of its own segment whenever the two talk (ARP)
and keeps it in the neighbour table, which ``/proc/net/arp`` shows for IPv4 (``ip
neigh`` shows the same entries). This reads it, after one UDP datagram to the
discard port (9) when there is no entry yet, which makes the kernel ask. Only a
machine on the controller's own segment can be found so: the controller must run in
the host network of a node there, as Wake-on-LAN's broadcasts need anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from pathlib import Path

ARP_TABLE = Path("/proc/net/arp")
COMPLETE = 0x2
"""ATF_COM: the kernel has a reply for this IP (an incomplete entry has a zero MAC)."""
DISCARD_PORT = 9
ANSWER_WAIT = 0.5
"""Seconds for an ARP reply on a local segment (they take well under a millisecond;
the margin is for a busy host)."""


def read_table(text: str) -> dict[str, str]:
    """IP → MAC of the complete entries of an ``/proc/net/arp`` text."""
    table = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        ip, flags, mac = fields[0], int(fields[2], 16), fields[3].lower()
        if flags & COMPLETE and mac != "00:00:00:00:00:00":
            table[ip] = mac
    return table


async def mac_of(ip: str, *, table: Path = ARP_TABLE, wait: float = ANSWER_WAIT) -> str | None:
    """The MAC behind an IPv4 address of this host's segment, or None."""
    try:
        if ipaddress.ip_address(ip).version != 4:
            return None
    except ValueError:
        return None
    known = _read(table).get(ip)
    if known is not None:
        return known
    _prod(ip)
    await asyncio.sleep(wait)
    return _read(table).get(ip)


def _read(table: Path) -> dict[str, str]:
    try:
        return read_table(table.read_text(encoding="ascii"))
    except OSError:
        return {}


def _prod(ip: str) -> None:
    """One datagram to the discard port: the kernel resolves the IP to send it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, \
            contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.sendto(b"", (ip, DISCARD_PORT))
