"""Machines declared as BareMetalNode objects, beside the configuration's ``machines``.

A person may declare a machine with ``kubectl apply`` instead of editing the
ConfigMap. Its spec carries what a ``machines[]`` entry carries, under the names
the CRD gives them, and is checked by the same rules (the schema, the pool, each
driver's settings), so an error names the object and the field as written there:
``BareMetalNode/foo spec.power.on.driver: ...``. The configuration in force is the
document's machines plus the declared ones. A machine named in both places is
refused with both named: two specs for one machine would leave to chance which one
the controller acts on.

The controller also keeps a BareMetalNode for each machine of the document (its
record store); ``spec.source: configuration`` marks those mirrors, which are not
declarations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from controller.config.loading import (
    ConfigError,
    Drivers,
    describe_error,
    machine_driver_problems,
    machine_problems,
)
from controller.config.schema import AutoscalerConfig, MachineSpec

SOURCE_CONFIGURATION = "configuration"
"""``spec.source`` of the BareMetalNode the controller mirrors a document machine into."""
SOURCE_DECLARED = "declared"
"""``spec.source`` of a BareMetalNode that declares a machine (the CRD's default)."""
NOT_MACHINE_FIELDS = ("source", "onDelete")
"""Spec fields about the object, not the machine: what to do when it is deleted."""


def declared_machine(name: str, spec: Mapping[str, Any], *, pools: Sequence[str],
                     drivers: Drivers | None) -> MachineSpec:
    """The machine a BareMetalNode declares; ConfigError naming each bad field.

    drivers: as for ``load_config_text`` (None: any name and settings pass).
    """
    where = f"BareMetalNode/{name}"
    entry = {key: value for key, value in spec.items() if key not in NOT_MACHINE_FIELDS}
    power = dict(entry.get("power") or {})
    reference = power.pop("credentialsSecretRef", None)
    if isinstance(reference, Mapping):
        power["credentials"] = {"secret": reference.get("name"),
                                **({"namespace": reference["namespace"]}
                                   if reference.get("namespace") else {})}
    try:
        machine = MachineSpec.model_validate({**entry, "name": name, "power": power})
    except ValidationError as error:
        raise ConfigError([f"{where} {_spec_path(describe_error(detail))}"
                           for detail in error.errors()]) from None
    problems = list(machine_problems(machine, pools))
    if drivers is not None:
        problems += machine_driver_problems(machine, drivers)
    if problems:
        raise ConfigError([f"{where} {_spec_path(problem)}" for problem in problems])
    return machine


def _spec_path(problem: str) -> str:
    """A problem's machine-relative path as written in the BareMetalNode."""
    if problem.startswith("name:"):
        return "metadata." + problem
    for ours, theirs in (("power.credentials.secret", "power.credentialsSecretRef.name"),
                         ("power.credentials", "power.credentialsSecretRef")):
        if problem.startswith(ours):
            problem = theirs + problem[len(ours):]
            break
    return "spec." + problem


def with_declared(document: AutoscalerConfig,
                  declared: Mapping[str, MachineSpec]) -> AutoscalerConfig:
    """The configuration in force: the document's machines, then the declared ones by
    name. ConfigError when a machine or a MAC is declared in both places, or a declared
    machine's pool is not in the document."""
    pools = [pool.name for pool in document.pools]
    problems = [f"BareMetalNode/{name} {_spec_path(problem)}"
                for name, machine in sorted(declared.items())
                for problem in machine_problems(machine, pools)]
    problems += _conflicts(document, declared)
    if problems:
        raise ConfigError(problems)
    if not declared:
        return document
    machines = [*document.machines, *(declared[name] for name in sorted(declared))]
    return document.model_copy(update={"machines": machines})


def _conflicts(document: AutoscalerConfig,
               declared: Mapping[str, MachineSpec]) -> Iterator[str]:
    owners: dict[str, str] = {}
    for index, machine in enumerate(document.machines):
        owners[machine.name] = f"machines[{index}] of the configuration"
        if machine.mac:
            owners[_mac(machine.mac)] = f"machines[{index}] of the configuration"
    for name in sorted(declared):
        machine = declared[name]
        if name in owners:
            yield (f"machine {name!r} is declared twice: by {owners[name]} and by "
                   f"BareMetalNode/{name}; keep one")
        if machine.mac and _mac(machine.mac) in owners:
            yield (f"BareMetalNode/{name} spec.mac: {machine.mac!r} is also the mac of "
                   f"{owners[_mac(machine.mac)]}")
        if machine.mac:
            owners[_mac(machine.mac)] = f"BareMetalNode/{name}"


def _mac(mac: str) -> str:
    return mac.lower().replace("-", ":")
