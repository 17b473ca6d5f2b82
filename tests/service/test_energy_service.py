"""Energy accounting in the running controller, on the real control plane and ipmi_sim:
the totals reach the BareMetalNode and NodePool status, and a restarted controller
continues them instead of starting from zero."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from controller.kube.client import KubeClient, api_path
from controller.kube.errors import KubeNotFound
from controller.service import ServiceSettings
from lab.controlplane import ControlPlane
from lab.peers import IpmiSim
from tests.service.rig import PASSWORD, USERNAME, config_yaml, create_secret, eventually, running
from tests.ship.shipped import Kubectl

pytestmark = pytest.mark.integration

ENERGY = "energy: {interval: 1s, bmcInterval: 1s, bmcTimeout: 5s, persistInterval: 2s}\n"
IDLE_WATTS = 100.0  # the defaults: an off machine draws 5 W and would draw 100 W on
OFF_WATTS = 5.0


async def status(kube: KubeClient, plural: str, name: str) -> dict[str, Any]:
    try:
        found = await kube.request("GET", api_path("bamel.io/v1alpha1", plural, name=name))
    except KubeNotFound:  # not created yet
        return {}
    return dict(found.get("status") or {})


async def test_totals_reach_the_status_and_outlive_a_restart(
        tmp_path: Path, control_plane: ControlPlane, namespace: str, kube: KubeClient) -> None:
    suffix = uuid.uuid4().hex[:6]
    pool, machine = f"pool-{suffix}", f"machine-{suffix}"
    await create_secret(kube, namespace, "bmc")
    with IpmiSim(username=USERNAME, password=PASSWORD) as bmc:
        config = tmp_path / "config.yaml"
        config.write_text(config_yaml(pool=pool, machine=machine, bmc=bmc, secret="bmc",
                                      namespace=namespace) + ENERGY)
        settings = ServiceSettings(
            config_file=config, kubeconfig=str(control_plane.kubeconfig),
            listen_host="127.0.0.1", listen_port=0, namespace=namespace,
            identity="energy-test", leader_elect=False)

        async def counted(least: float) -> dict[str, Any]:
            energy = (await status(kube, "nodepools", pool)).get("energy") or {}
            return energy if energy.get("alwaysOnKWh", 0) * 3.6e6 >= least else {}

        async with running(settings) as service:
            first = await eventually(lambda: counted(3 * IDLE_WATTS))
            assert first, await status(kube, "nodepools", pool)
            sample = service.metrics.registry.get_sample_value
            labels = {"machine": machine, "pool": pool}
            assert sample("bamel_controller_machine_energy_joules_total",
                          {**labels, "source": "model"})  # ipmi_sim has no DCMI reading
            assert sample("bamel_controller_machine_watts",
                          {**labels, "source": "model"}) == OFF_WATTS
        # an off machine: used is its standby draw, always-on its idle draw
        assert first["savedPercent"] == pytest.approx(95.0, abs=0.2)
        shown = Kubectl(control_plane.kubeconfig).run("get", "nodepool", pool, "-o", "wide")
        header, row = shown.stdout.splitlines()
        assert header.split()[-3:] == ["SAVED", "USEDKWH", "AGE"], header
        assert float(row.split()[-3]) == pytest.approx(95.0, abs=0.2)
        stopped = (await status(kube, "baremetalnodes", machine))["energy"]
        at_stop = service.energy.totals(machine)  # written once more on the way out
        assert stopped["alwaysOnJoules"] == pytest.approx(at_stop.always_on_joules, abs=0.001)
        assert stopped["alwaysOnJoules"] == pytest.approx(
            stopped["joules"] * IDLE_WATTS / OFF_WATTS, abs=0.05)  # rounded to mJ
        assert stopped["alwaysOnJoules"] >= first["alwaysOnKWh"] * 3.6e6

        async with running(settings):
            again = await eventually(lambda: counted(stopped["alwaysOnJoules"] + IDLE_WATTS))
            assert again, await status(kube, "nodepools", pool)
        assert again["since"] == first["since"]  # continued, not restarted
        later = (await status(kube, "baremetalnodes", machine))["energy"]
        assert later["since"] == stopped["since"]
        assert later["joules"] > stopped["joules"]
