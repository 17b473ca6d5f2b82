"""The power sync in the whole controller: a supervised task of the leader whose
findings reach the BareMetalNode status, its Events, the metrics and `kubectl get bmn`."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube.client import KubeClient
from controller.service import ServiceSettings
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.service.rig import PASSWORD, USERNAME, create_secret, eventually, running
from tests.service.test_service import event_reasons, machine_status

pytestmark = pytest.mark.integration


@pytest.fixture
def bmc() -> Iterator[IpmiSim]:
    with IpmiSim(username=USERNAME, password=PASSWORD) as sim:
        yield sim


@dataclasses.dataclass
class Controller:
    """Writes one machine's configuration (ipmi, 1 s BMC timeout) with extra sections."""

    tmp_path: Path
    control_plane: ControlPlane
    kube: KubeClient
    namespace: str
    bmc: IpmiSim

    async def settings(self, machine: str, sections: str) -> ServiceSettings:
        await create_secret(self.kube, self.namespace, f"bmc-{machine}")
        ipmi = (f"{{driver: ipmi, settings: {{host: 127.0.0.1, port: {self.bmc.port}, "
                "timeout: 1}}")
        config = self.tmp_path / "config.yaml"
        config.write_text(f"""apiVersion: bamel.io/v1alpha1
kind: AutoscalerConfig
pools: [{{name: pool-{machine}}}]
machines:
  - name: {machine}
    pool: pool-{machine}
    capacity: {{cpu: "8", memory: 16Gi}}
    power:
      on: {ipmi}
      off: {ipmi}
      credentials: {{secret: bmc-{machine}, namespace: {self.namespace}}}
{sections}""")
        return ServiceSettings(config_file=config,
                               kubeconfig=str(self.control_plane.kubeconfig),
                               listen_host="127.0.0.1", listen_port=0,
                               namespace=self.namespace, identity="test-controller")


@pytest.fixture
def controller(tmp_path: Path, control_plane: ControlPlane, kube: KubeClient, namespace: str,
               bmc: IpmiSim) -> Controller:
    return Controller(tmp_path, control_plane, kube, namespace, bmc)


async def status_has(kube: KubeClient, machine: str, **fields: Any) -> bool:
    status = await machine_status(kube, machine)
    return all(status.get(key) == value for key, value in fields.items())


async def test_a_machine_switched_on_by_hand_reaches_status_events_and_metrics(
        controller: Controller, kube: KubeClient, bmc: IpmiSim) -> None:
    machine = f"sync-{uuid.uuid4().hex[:6]}"
    config = await controller.settings(machine, "powerSync: {interval: 10s}\n")
    async with running(config) as service:
        assert await eventually(lambda: status_has(kube, machine, state="off",
                                                   powerState="off"), within=30)
        assert "power-sync" in {task.get_name() for task in asyncio.all_tasks()}
        (bmc.state_dir / "power").write_text("1\n")  # switched on at the chassis
        noticed = await eventually(lambda: status_has(kube, machine, powerState="on"),
                                   within=30)
        assert noticed, await machine_status(kube, machine)
        assert (await machine_status(kube, machine))["state"] == "off"
        assert "PowerStateDrift" in await event_reasons(kube, machine)
        assert service.metrics.power_drift.labels(machine, "on", "off")._value.get() == 1
        assert bmc.commands() == []  # adopted: nothing was sent to switch it back


async def test_a_dead_bmc_is_quarantined_in_status_and_released_when_it_answers(
        controller: Controller, kube: KubeClient, bmc: IpmiSim) -> None:
    machine = f"quar-{uuid.uuid4().hex[:6]}"
    config = await controller.settings(machine,
                                       "quarantine: {afterFailures: 1, probeInterval: 1s}\n")
    bmc.kill_bmc()
    async with running(config) as service:
        quarantined = await eventually(lambda: status_has(kube, machine, quarantined=True,
                                                          bmcFailures=1), within=60)
        assert quarantined, await machine_status(kube, machine)
        done = await asyncio.to_thread(
            subprocess.run, ["kubectl", f"--kubeconfig={controller.control_plane.kubeconfig}",
                             "get", "bmn", machine, "-o", "wide"],
            check=True, capture_output=True, text=True)
        columns = done.stdout.splitlines()
        at = columns[0].index("QUARANTINED")  # empty cells are blank: read by position
        assert columns[1][at:].split()[0] == "true"
        assert {"PowerStatusFailed", "Quarantined"} <= set(await event_reasons(kube, machine))
        assert service.metrics.quarantined.labels(machine)._value.get() == 1
        bmc.revive_bmc()
        released = await eventually(lambda: status_has(kube, machine, quarantined=False,
                                                       bmcFailures=0), within=60)
        assert released, await machine_status(kube, machine)
        # The Event follows the status write: wait for it rather than read it once.
        said = await eventually(lambda: _has_event(kube, machine, "QuarantineReleased"),
                                within=30)
        assert said, await event_reasons(kube, machine)


async def _has_event(kube: KubeClient, machine: str, reason: str) -> bool:
    return reason in await event_reasons(kube, machine)


async def test_dry_run_runs_no_power_sync(controller: Controller, kube: KubeClient) -> None:
    machine = f"dry-{uuid.uuid4().hex[:6]}"
    config = await controller.settings(machine, "")
    async with running(dataclasses.replace(config, dry_run=True)):
        assert await eventually(lambda: status_has(kube, machine, state="off"), within=30)
        await asyncio.sleep(1.0)
        assert "power-sync" not in {task.get_name() for task in asyncio.all_tasks()}
        assert "reactor" in {task.get_name() for task in asyncio.all_tasks()}
