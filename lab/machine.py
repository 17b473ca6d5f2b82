"""A lab machine: a power peer, and a kubelet that exists only while the power is on.

The controller never talks to a machine, only to its power peer and to Kubernetes;
so a machine here is what connects the two. It watches its peer: when the peer says
on, it "boots" (waits its boot delay), then registers its Node tainted
``bamel.io/unconfirmed:NoSchedule`` (as a real machine's kubelet does with
``--register-with-taints``: only when it creates the Node, so a Node that outlived
the last shutdown keeps whatever taints it has), keeps it Ready, runs the pods bound
to it and streams their pressure. When the peer says off, the kubelet and the stream
stop at once and the Node is left to go NotReady, as after a real shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from controller.tasks import cancel_and_wait
from lab.fleet import MachinePlan
from lab.hollow import HollowNode
from lab.pressure import Intensity, NodePressure, steady
from lab.rack import PowerPeer

log = logging.getLogger(__name__)

UNCONFIRMED_TAINT = {"key": "bamel.io/unconfirmed", "effect": "NoSchedule"}


class Power(enum.Enum):
    OFF = "off"
    BOOTING = "booting"
    ON = "on"


@dataclass(frozen=True)
class StreamTarget:
    """Where and as whom a node streams its pressure."""

    url: str
    token_file: Path


class LabMachine:
    """Follows its peer's power; ``power``, ``node`` and the counts say where it is."""

    def __init__(self, plan: MachinePlan, peer: PowerPeer, *, kubeconfig: Path,
                 stream: StreamTarget, intensity: Intensity = steady, poll: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.peer = peer
        self.kubeconfig = kubeconfig
        self.stream = stream
        self.intensity = intensity
        self.poll = poll
        self.clock = clock
        self.power = Power.OFF
        self.power_ons = 0
        """Times the power came on, as the machine saw it (not as anyone asked)."""
        self.power_offs = 0
        self.node: HollowNode | None = None
        self.pressure: NodePressure | None = None
        self._booted_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    def start(self) -> LabMachine:
        self._task = asyncio.create_task(self._run(), name=f"lab-machine-{self.name}")
        return self

    async def close(self) -> None:
        """Stop following the peer and shut the node down; safe to call twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._halt()

    def watts(self) -> float:
        """Draw now: standby when off, idle plus the busy share of CPU when on."""
        if self.power is Power.OFF:
            return self.plan.off_watts
        busy = self.pressure.utilisation.get("cpu", 0.0) if self.pressure else 0.0
        return self.plan.idle_watts + (self.plan.busy_watts - self.plan.idle_watts) * min(1.0,
                                                                                         busy)

    def levels(self) -> dict[str, float]:
        return dict(self.pressure.levels) if self.pressure else {}

    async def _run(self) -> None:
        while True:
            try:
                on = await self.peer.is_on()
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.debug("%s: cannot read power: %s", self.name, error)
            else:
                await self._follow(on)
            await asyncio.sleep(self.poll)

    async def _follow(self, on: bool) -> None:
        if on and self.power is Power.OFF:
            self.power = Power.BOOTING
            self.power_ons += 1
            self._booted_at = self.clock() + self.plan.boot_delay
            log.info("%s: power on, booting for %.1fs", self.name, self.plan.boot_delay)
        elif not on and self.power is not Power.OFF:
            self.power_offs += 1
            log.info("%s: power off", self.name)
            await self._halt()
        elif self.power is Power.BOOTING and self.clock() >= self._booted_at:
            await self._boot()

    async def _boot(self) -> None:
        node = HollowNode(kubeconfig=self.kubeconfig, name=self.name,
                          capacity=self.plan.node_capacity(), labels=self.plan.node_labels(),
                          taints=[UNCONFIRMED_TAINT])
        try:
            await node.start()
        except (ApiException, aiohttp.ClientError, OSError) as error:
            log.warning("%s: kubelet could not register (retrying): %s", self.name, error)
            await node.close()
            return
        self.node = node
        self.pressure = NodePressure(
            node=self.name, mac=self.plan.mac, capacity=self.plan.quantities(),
            pods=lambda: node.pods, url=self.stream.url, token_file=self.stream.token_file,
            intensity=self.intensity).start()
        self.power = Power.ON
        log.info("%s: node registered", self.name)

    async def _halt(self) -> None:
        self.power = Power.OFF
        pressure, self.pressure = self.pressure, None
        node, self.node = self.node, None
        if pressure is not None:
            await pressure.close()
        if node is not None:
            with contextlib.suppress(ApiException, aiohttp.ClientError, OSError):
                await node.close()
