"""What the agent reads of its machine: DMI identity from sysfs, the interfaces its
default routes leave by from /proc/net, and their addresses."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import psutil

from agent.identity import (
    NodeIdentity,
    default_route_interfaces,
    dmi,
    host_addresses,
    host_facts,
)

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
cni0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
bond0\t00000000\t0104000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
bond0\t0004000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""
IPV6_ROUTE = (
    "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eno2\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000002 00000000 00000003     eno2\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)


def test_dmi_reads_vendor_product_and_serial_squeezing_blanks(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("Supermicro\n")
    (tmp_path / "product_name").write_text("  SYS-5019C-M  \n")
    (tmp_path / "product_serial").write_text("S1234  5678\n")
    assert dmi(tmp_path) == {"vendor": "Supermicro", "product": "SYS-5019C-M",
                             "serial": "S1234 5678"}


def test_dmi_leaves_out_blank_and_unreadable_fields(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("QEMU\n")
    (tmp_path / "product_name").write_text("   \n")
    assert dmi(tmp_path) == {"vendor": "QEMU"}  # no product, no serial file
    assert dmi(tmp_path / "absent") == {}


def test_a_long_dmi_field_is_cut_to_what_the_wire_takes(tmp_path: Path) -> None:
    (tmp_path / "product_name").write_text("x" * 300)
    assert dmi(tmp_path) == {"product": "x" * 128}


def test_default_route_interfaces_are_read_from_both_route_tables(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "ipv6_route").write_text(IPV6_ROUTE)
    assert default_route_interfaces(tmp_path) == {"bond0", "eno2"}  # not cni0, not lo
    assert default_route_interfaces(tmp_path / "absent") == set()


def test_host_addresses_are_the_global_ones_of_those_interfaces() -> None:
    """This machine's own interfaces, read through psutil."""
    interfaces = default_route_interfaces()
    found = host_addresses(interfaces)
    listed = {a.address.split("%")[0] for name, addresses in psutil.net_if_addrs().items()
              if name in interfaces for a in addresses
              if a.family in (socket.AF_INET, socket.AF_INET6)}
    assert set(found) <= listed
    assert list(found) == sorted(found)
    assert not any(ipaddress.ip_address(ip).is_link_local for ip in found)
    assert host_addresses({"lo"}) == ()  # loopback reaches nothing from elsewhere


def test_host_facts_carry_the_identity_of_the_node(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("Dell Inc.\n")
    identity = NodeIdentity(node="rack-3", boot_id="b-9", macs=())
    facts = host_facts(identity, dmi_root=tmp_path, proc_net=tmp_path)
    assert (facts.node, facts.boot_id, facts.dmi, facts.addresses) == (
        "rack-3", "b-9", {"vendor": "Dell Inc."}, ())
