"""The controller's power side over real BMCs, for the power-truth and BMC-fault tests.

The actuator, reactor and power sync are the production ones, reaching ipmi_sim or
a Redfish service through the production driver cache and a credentials file; the
records are kept in memory and the Events recorded. The cluster side (a joining
Node, a drain) is scripted: these tests are about what reaches the BMC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.actuation import Actuator
from controller.config import AutoscalerConfig, load_config_text
from controller.config.loading import dump_yaml
from controller.ingest import PressureStore
from controller.machines import MachineRecord, MemoryMachineStore
from controller.metrics import ControllerMetrics
from controller.power import DRIVERS, MachinePower
from controller.power.cache import MachinePowerCache
from controller.powersync import PowerSync
from controller.reactor import Reactor
from tests.controller.test_actuation import Clock, ScriptedCluster
from tests.controller.test_power_sync import Events, Sleeps
from tests.power.conftest import PASSWORD


def fleet(tmp: Path, power: dict[str, Any], *, password: str = PASSWORD,
          **sections: Any) -> AutoscalerConfig:
    """One machine "m" with power ``{"driver", "settings"}`` and a credentials file."""
    credentials = tmp / "bmc.yaml"
    credentials.write_text(f"username: admin\npassword: {password}\n")
    document = {
        "apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
        "pools": [{"name": "general", "scaleUp": {"stabilizationWindow": 0}}],
        "machines": [{"name": "m", "pool": "general", "bootTime": "1m",
                      "capacity": {"cpu": 8, "memory": "32Gi"},
                      "power": {"on": power, "off": power,
                                "credentials": {"file": str(credentials)}}}],
        **sections,
    }
    return load_config_text(dump_yaml(document), drivers=DRIVERS)


class BmcRig:
    """``rig.sync.sync_once()``, ``rig.actuator.execute(...)``, ``rig.records["m"]``."""

    def __init__(self, cfg: AutoscalerConfig, records: dict[str, MachineRecord] | None = None,
                 ) -> None:
        self.cfg = cfg
        self.clock = Clock(time.time())
        self.store = MemoryMachineStore(records)
        self.records = self.store.read()
        self.metrics = ControllerMetrics()
        self.events = Events()
        self.cluster = ScriptedCluster()
        self.power = MachinePowerCache(secret_reader=None)
        self.actuator = Actuator(config=cfg, store=self.store, records=self.records,
                                 power_for=self.power_for, cluster=self.cluster,
                                 clock=self.clock, metrics=self.metrics, events=self.events,
                                 forget_power=self.power.forget)
        self.reactor = Reactor(config=cfg, actuator=self.actuator, records=self.records,
                               pressure=PressureStore(), metrics=self.metrics, clock=self.clock)
        self.sync = PowerSync(config=lambda: self.cfg, actuator=self.actuator,
                              power_for=self.power_for, busy=self.reactor.busy,
                              restore=self.reactor.restore_power, events=self.events,
                              metrics=self.metrics, forget_power=self.power.forget,
                              clock=self.clock, sleep=Sleeps())

    async def power_for(self, spec: Any) -> MachinePower:
        return await self.power.get(spec)

    async def settle(self) -> None:
        """Wait for the reactor's action tasks (a restore, a planned power-on)."""
        await asyncio.sleep(0)
        await self.reactor.settle()

    async def sync_now(self) -> None:
        """One pass of the sync with every machine due (the interval passed)."""
        self.clock.now += self.cfg.power_sync.interval + self.cfg.quarantine.probe_interval
        await self.sync.sync_once()

    def count(self, metric: Any, *labels: str) -> float:
        return float(metric.labels(*labels)._value.get())

    async def close(self) -> None:
        await self.reactor.close()
        await self.power.close()


async def eventually(check: Callable[[], bool], *, within: float, every: float = 0.2) -> None:
    """Wait until check() holds (a sushy reset lands 1-11 s after it is accepted)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within:g} s")
        await asyncio.sleep(every)
