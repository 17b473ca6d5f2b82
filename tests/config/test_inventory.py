"""Machines declared as BareMetalNode objects: checked like machines[], errors named as
written in the object, and never declared twice."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config import ConfigError, declared_machine, load_config_text, with_declared
from controller.config.loading import dump_yaml
from controller.power import DRIVERS

POOLS = ["general"]
IPMI = {"driver": "ipmi", "settings": {"host": "10.0.0.11"}}


def spec(**changes: Any) -> dict[str, Any]:
    """A BareMetalNode spec as ``kubectl apply`` stores it (defaults filled in)."""
    return {"pool": "general", "capacity": {"cpu": "8", "memory": "32Gi"},
            "power": {"on": IPMI, "off": IPMI,
                      "credentialsSecretRef": {"name": "bmc", "namespace": "bamel-system"}},
            "bootTime": 90, "source": "declared", "powerState": "auto", "onDelete": "leave",
            **changes}


def document(**machine: Any) -> dict[str, Any]:
    machines = [{"name": "rack-1", "pool": "general", "capacity": {"cpu": 8, "memory": "8Gi"},
                 "power": {"on": IPMI, "off": IPMI}, **machine}]
    return {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
            "pools": [{"name": "general"}], "machines": machines}


def problems(name: str, body: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        declared_machine(name, body, pools=POOLS, drivers=DRIVERS)
    return caught.value.problems


def test_a_declared_machine_is_the_machines_entry_it_spells() -> None:
    machine = declared_machine("small-1", spec(mac="52:54:00:00:00:03", powerState="off",
                                               idleWatts=40, busyWatts=90),
                               pools=POOLS, drivers=DRIVERS)
    assert (machine.name, machine.pool, machine.capacity.cpu) == ("small-1", "general", 8)
    assert machine.capacity.memory == 32 * 2**30
    assert machine.power.credentials is not None
    assert (machine.power.credentials.secret, machine.power.credentials.namespace) == (
        "bmc", "bamel-system")
    assert (machine.boot_time, machine.mac, machine.held) == (90, "52:54:00:00:00:03", "off")
    assert (machine.idle_watts, machine.busy_watts) == (40, 90)


def test_each_error_names_the_object_and_the_field_as_written_there() -> None:
    typo = {"driver": "ipmi", "settings": {"hots": "10.0.0.11"}}
    assert problems("small-1", spec(power={"on": typo, "off": IPMI})) == [
        "BareMetalNode/small-1 spec.power.on.settings.host: is required",
        "BareMetalNode/small-1 spec.power.on.settings.hots: unknown key (value '10.0.0.11'); "
        "known: host, port, username, timeout, wait, powerTimeout, pollInterval"]
    assert problems("small-1", spec(power={"on": {"driver": "ipmii"}, "off": IPMI})) == [
        "BareMetalNode/small-1 spec.power.on.driver: unknown driver 'ipmii'; "
        "known: command, ipmi, redfish, ssh, wol"]
    assert problems("small-1", spec(pool="gpu")) == [
        "BareMetalNode/small-1 spec.pool: 'gpu' is not a pool (general)"]
    assert problems("small-1", spec(capacity={"cpu": "lots", "memory": "1Gi"}))[0].startswith(
        "BareMetalNode/small-1 spec.capacity.cpu: ")
    bad_reference = spec(power={"on": IPMI, "off": IPMI,
                                "credentialsSecretRef": {"name": 7}})
    assert problems("small-1", bad_reference)[0].startswith(
        "BareMetalNode/small-1 spec.power.credentialsSecretRef.name: ")
    assert problems("Small_1", spec())[0].startswith("BareMetalNode/Small_1 metadata.name: ")


def test_a_machine_in_both_places_is_refused_naming_both() -> None:
    config = load_config_text(dump_yaml(document()))
    twin = declared_machine("rack-1", spec(), pools=POOLS, drivers=DRIVERS)
    with pytest.raises(ConfigError) as caught:
        with_declared(config, {"rack-1": twin})
    assert caught.value.problems == [
        "machine 'rack-1' is declared twice: by machines[0] of the configuration and by "
        "BareMetalNode/rack-1; keep one"]


def test_a_mac_in_both_places_is_refused_naming_both() -> None:
    config = load_config_text(dump_yaml(document(mac="52:54:00:00:00:03")))
    other = declared_machine("small-1", spec(mac="52-54-00-00-00-03"), pools=POOLS,
                             drivers=DRIVERS)
    with pytest.raises(ConfigError) as caught:
        with_declared(config, {"small-1": other})
    assert caught.value.problems == [
        "BareMetalNode/small-1 spec.mac: '52-54-00-00-00-03' is also the mac of machines[0] "
        "of the configuration"]


def test_the_configuration_in_force_is_the_documents_machines_then_the_declared() -> None:
    config = load_config_text(dump_yaml(document()))
    small = declared_machine("small-1", spec(), pools=POOLS, drivers=DRIVERS)
    combined = with_declared(config, {"small-1": small})
    assert [m.name for m in combined.machines] == ["rack-1", "small-1"]
    assert with_declared(config, {}) is config
    pool_gone = load_config_text(dump_yaml({**document(), "pools": [{"name": "other"}],
                                            "machines": []}))
    with pytest.raises(ConfigError) as caught:
        with_declared(pool_gone, {"small-1": small})
    assert caught.value.problems == [
        "BareMetalNode/small-1 spec.pool: 'general' is not a pool (other)"]


def test_the_configuration_may_hold_a_machine_too() -> None:
    config = load_config_text(dump_yaml(document(powerState="on")))
    assert config.machines[0].held == "on"
    assert load_config_text(dump_yaml(document())).machines[0].held is None
