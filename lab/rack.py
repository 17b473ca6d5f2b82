"""The lab's power peers: one real peer behind each machine, and what each says.

Each machine sits behind what it would have in a real rack: an IPMI BMC
(``ipmi_sim``, one per machine), a Redfish service (one ``sushy-emulator`` holding
every Redfish machine as a system), or a NIC that wakes on a magic packet (one UDP
listener stands for the LAN segment) with an sshd that records the shutdown
command. A :class:`PowerPeer` answers the only question a machine asks of it, "am I
on?", from the peer's own state, never from what a client believes it sent; and it
keeps the power commands that reached the peer, which the tests count.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from controller.tasks import cancel_and_wait
from lab.fleet import Fleet, MachinePlan, Wiring
from lab.peers import FakeSystem, IpmiSim, Sshd, SushyEmulator, WolListener, magic_packet
from lab.peers.process import LOOPBACK

USERNAME = "admin"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PowerPeer(Protocol):
    """The power side of one machine, as the machine itself sees it."""

    kind: str
    wiring: Wiring

    async def is_on(self) -> bool:
        """Whether the machine has power now."""
        ...

    def records(self) -> list[str]:
        """Every power command that reached the peer, oldest first."""
        ...

    def alive(self) -> bool:
        """Whether the peer answers at all (a stopped BMC does not)."""
        ...


class IpmiPower:
    """A machine behind its own ipmi_sim; the chassis hook's state file is the truth."""

    kind = "ipmi"

    def __init__(self, sim: IpmiSim, *, secret: str, namespace: str) -> None:
        self.sim = sim
        self.wiring = Wiring(
            on=_action("ipmi", self._settings()), off=_action("ipmi", self._settings()),
            credentials={"secret": secret, "namespace": namespace})

    def _settings(self) -> dict[str, Any]:
        # Short timeouts: a lab BMC answers in milliseconds or is dead.
        return {"host": LOOPBACK, "port": self.sim.port, "timeout": 3,
                "powerTimeout": 30, "pollInterval": 0.5}

    async def is_on(self) -> bool:
        return self.sim.chassis_on

    def records(self) -> list[str]:
        return self.sim.commands()

    def alive(self) -> bool:
        return self.sim.running()

    def stop_bmc(self) -> None:
        """Stop the BMC (the chassis keeps its state): a dead BMC for tests."""
        self.sim.kill_bmc()


class RedfishPower:
    """One system of the shared sushy-emulator; its PowerState is read over Redfish."""

    kind = "redfish"

    def __init__(self, emulator: SushyEmulator, system: FakeSystem, *, password: str,
                 credentials_file: Path, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.system = system
        self._session = session
        token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        settings = {"url": emulator.url, "system": system.uuid, "timeout": 5,
                    "powerTimeout": 60, "pollInterval": 0.5}
        self.wiring = Wiring(on=_action("redfish", settings), off=_action("redfish", settings),
                             credentials={"file": str(credentials_file)})

    async def is_on(self) -> bool:
        url = f"{self.emulator.url}/redfish/v1/Systems/{self.system.uuid}"
        async with self._session.get(url, headers=self._headers) as answer:
            answer.raise_for_status()
            body = await answer.json()
        return bool(body.get("PowerState") == "On")

    def records(self) -> list[str]:
        action = f"POST /redfish/v1/Systems/{self.system.uuid}/Actions/ComputerSystem.Reset"
        log = _ANSI.sub("", self.emulator.log_text())
        return [line.split('"', 1)[-1] for line in log.splitlines() if action in line]

    def alive(self) -> bool:
        return self.emulator.running()


class WolSshPower:
    """Woken by its MAC's magic packet on the lab LAN; off when its sshd records a shutdown."""

    kind = "wol-ssh"

    def __init__(self, plan: MachinePlan, sshd: Sshd, *, wol_port: int,
                 credentials_file: Path, known_hosts: Path) -> None:
        self.sshd = sshd
        self.mac = plan.mac
        self._packet = magic_packet(plan.mac)
        self._on = False
        self._records: list[str] = []
        self.heard_at: list[float] = []
        """When each record was taken (monotonic seconds): the driver sends each wake as
        a burst of packets, which a count of commands takes as one."""
        self._commands_seen = 0
        self.wiring = Wiring(
            on=_action("wol", {"broadcast": LOOPBACK, "port": wol_port, "repeats": 2,
                               "interval": 0.05}),
            off=_action("ssh", {"host": LOOPBACK, "port": sshd.port, "user": sshd.user,
                                "knownHosts": str(known_hosts), "connectTimeout": 3,
                                "commandTimeout": 10}),
            credentials={"file": str(credentials_file)}, mac=plan.mac)

    def hear(self, packet: bytes) -> None:
        """A datagram on the LAN: wake if it is this NIC's magic packet."""
        if packet == self._packet:
            self._on = True
            self._records.append(f"wake {self.mac}")
            self.heard_at.append(time.monotonic())

    async def is_on(self) -> bool:
        commands = self.sshd.commands()
        for command in commands[self._commands_seen:]:
            self._records.append(command)
            self.heard_at.append(time.monotonic())
            if "poweroff" in command or "shutdown" in command:
                self._on = False
        self._commands_seen = len(commands)
        return self._on

    def records(self) -> list[str]:
        return list(self._records)

    def alive(self) -> bool:
        return True


class Rack:
    """Starts every peer of a fleet; ``peers[name]`` is each machine's PowerPeer.

    ``secrets`` are the Kubernetes Secrets the configuration refers to (name → data),
    for the lab to create before the controller starts.
    """

    def __init__(self, fleet: Fleet, *, workdir: Path, namespace: str) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.namespace = namespace
        self.peers: dict[str, PowerPeer] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lan: WolListener | None = None

    async def start(self) -> Rack:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Stop every peer by PID and close the LAN listener; safe to call twice."""
        await self._stack.aclose()

    async def __aenter__(self) -> Rack:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def wiring(self) -> dict[str, Wiring]:
        return {name: peer.wiring for name, peer in self.peers.items()}

    async def _start(self) -> None:
        credentials = self.workdir / "credentials"
        credentials.mkdir(parents=True, exist_ok=True)
        session = await self._stack.enter_async_context(aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=5)))
        by_kind: dict[str, list[MachinePlan]] = {"ipmi": [], "redfish": [], "wol-ssh": []}
        for plan in self.fleet.machines:
            by_kind[plan.power].append(plan)
        for plan in by_kind["ipmi"]:
            self._start_ipmi(plan)
        if by_kind["redfish"]:
            await self._start_redfish(by_kind["redfish"], credentials, session)
        if by_kind["wol-ssh"]:
            await self._start_lan(by_kind["wol-ssh"], credentials)
        # Order the peers as the fleet lists its machines.
        self.peers = {plan.name: self.peers[plan.name] for plan in self.fleet.machines}

    def _start_ipmi(self, plan: MachinePlan) -> None:
        password = secrets.token_urlsafe(12)
        sim = self._stack.enter_context(IpmiSim(username=USERNAME, password=password,
                                                delay_ms=int(plan.chassis_delay * 1000)))
        secret = f"bmc-{plan.name}"
        self.secrets[secret] = {"username": USERNAME, "password": password}
        self.peers[plan.name] = IpmiPower(sim, secret=secret, namespace=self.namespace)

    async def _start_redfish(self, plans: list[MachinePlan], credentials: Path,
                             session: aiohttp.ClientSession) -> None:
        password = secrets.token_urlsafe(12)
        systems = {plan.name: FakeSystem(plan.name, _uuid_for(plan.name), "Off", plan.mac)
                   for plan in plans}
        emulator = SushyEmulator(list(systems.values()), username=USERNAME, password=password)
        await asyncio.to_thread(emulator.start)
        self._stack.callback(emulator.stop)
        for plan in plans:
            path = _write_private(credentials / f"{plan.name}.yaml",
                                  f"username: {USERNAME}\npassword: {password}\n")
            self.peers[plan.name] = RedfishPower(emulator, systems[plan.name], password=password,
                                                 credentials_file=path, session=session)

    async def _start_lan(self, plans: list[MachinePlan], credentials: Path) -> None:
        lan = await self._stack.enter_async_context(WolListener())
        self._lan = lan
        nics: list[WolSshPower] = []
        for plan in plans:
            sshd = Sshd()
            await asyncio.to_thread(sshd.start)
            self._stack.callback(sshd.stop)
            known_hosts = credentials / f"{plan.name}.known_hosts"
            known_hosts.write_text(sshd.known_hosts_line + "\n")
            path = _write_private(credentials / f"{plan.name}.yaml", _ssh_credentials(sshd))
            nic = WolSshPower(plan, sshd, wol_port=lan.port, credentials_file=path,
                              known_hosts=known_hosts)
            nics.append(nic)
            self.peers[plan.name] = nic
        task = asyncio.create_task(_relay(lan, nics), name="lab-lan")
        self._stack.push_async_callback(cancel_and_wait, task)


async def _relay(lan: WolListener, nics: list[WolSshPower]) -> None:
    """Every datagram on the LAN reaches every NIC, as a broadcast does."""
    while True:
        try:
            packet = await lan.next(within=3600)
        except TimeoutError:
            continue
        lan.packets.clear()
        for nic in nics:
            nic.hear(packet)


def _action(driver: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    return {"driver": driver, "settings": dict(settings)}


def _ssh_credentials(sshd: Sshd) -> str:
    key = "\n".join("    " + line for line in sshd.client_key.strip().splitlines())
    return f"username: {sshd.user}\nprivateKey: |\n{key}\n"


def _write_private(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def _uuid_for(name: str) -> str:
    """A stable UUID per machine name, so restarts of the lab name the same systems."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.lab.bamel.io"))
