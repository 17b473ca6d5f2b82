"""The neighbour table as a MAC fallback: a real host in a network namespace, behind a
veth pair, found by its IP alone."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.power.neighbours import mac_of, read_table

TABLE = """IP address       HW type     Flags       HW address            Mask     Device
10.0.0.13        0x1         0x2         52:54:00:AA:BB:03     *        eth0
10.0.0.14        0x1         0x0         00:00:00:00:00:00     *        eth0
"""


def test_only_complete_entries_are_read_lower_case() -> None:
    assert read_table(TABLE) == {"10.0.0.13": "52:54:00:aa:bb:03"}


@dataclass(frozen=True)
class Host:
    ip: str
    mac: str


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def host() -> Iterator[Host]:
    """A namespace with its own MAC and IP, reached over a veth pair; removed after."""
    if shutil.which("ip") is None:
        pytest.skip("no ip(8)")
    tag = uuid.uuid4().hex[:6]
    ns, near, far = f"bn{tag}", f"bv{tag}a", f"bv{tag}b"
    octet = int(tag[:2], 16) % 200 + 20
    mine, theirs = f"10.231.{octet}.1", f"10.231.{octet}.2"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", near, "type", "veth", "peer", "name", far)
        _ip("link", "set", far, "netns", ns)
        _ip("addr", "add", f"{mine}/30", "dev", near)
        _ip("link", "set", near, "up")
        _ip("-n", ns, "addr", "add", f"{theirs}/30", "dev", far)
        _ip("-n", ns, "link", "set", far, "up")
        mac = _ip("-n", ns, "-o", "link", "show", far).split("link/ether ")[1].split()[0]
        yield Host(theirs, mac)
    finally:
        subprocess.run(["ip", "link", "del", near], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _table() -> dict[str, str]:
    return read_table(Path("/proc/net/arp").read_text())


@pytest.mark.integration
async def test_a_host_known_only_by_its_ip_is_found_in_the_neighbour_table(host: Host) -> None:
    assert host.ip not in _table()
    assert await mac_of(host.ip) == host.mac
    assert await mac_of("10.231.250.250", wait=0.1) is None  # nobody there
    assert await mac_of("fe80::1") is None  # IPv6 lives in NDP, not /proc/net/arp
