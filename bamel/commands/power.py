"""``bamel power status|on|off MACHINE --config FILE``: one machine, by hand, for operators.

The same drivers and credentials the controller uses, so an operator can check a
machine's power path before trusting the autoscaler with it. ``--dry-run`` says
which driver would do what and contacts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from controller.config import ConfigError, MachineSpec, load_config
from controller.config.schema import CredentialsRef
from controller.power import (
    DRIVERS,
    MachinePower,
    PowerError,
    PowerOperation,
    load_credentials,
    machine_power,
)

ACTIONS = (PowerOperation.STATUS, PowerOperation.ON, PowerOperation.OFF)
"""What an operator may ask for; a forced power-off is ``off --force``."""


def register(subparsers: Any) -> None:
    """Add ``power status|on|off``."""
    parser = subparsers.add_parser("power", help="read or switch one machine's power")
    parser.add_argument("action", choices=[action.value for action in ACTIONS])
    parser.add_argument("machine", help="the machine's name in the configuration")
    parser.add_argument("--config", required=True, help="the AutoscalerConfig YAML")
    parser.add_argument("--credentials", metavar="FILE",
                        help="a YAML/JSON credentials file, instead of the machine's own")
    parser.add_argument("--force", action="store_true", help="off: cut power, no shutdown")
    parser.add_argument("--dry-run", action="store_true",
                        help="say which driver would act; contact nothing")
    parser.set_defaults(handler=run_power)


def run_power(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 on a power error, 2 on a bad config or machine name."""
    try:
        machine = _find_machine(args.config, args.machine)
    except (ConfigError, LookupError) as error:
        print(f"bamel power: {_config_problem(error)}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(_plan(machine, PowerOperation(args.action), force=args.force))
        return 0
    try:
        print(asyncio.run(_act(machine, args)))
    except PowerError as error:
        kind = "retriable" if error.retriable else "permanent"
        print(f"bamel power: {error} ({error.category}, {kind})", file=sys.stderr)
        return 1
    return 0


async def _act(machine: MachineSpec, args: argparse.Namespace) -> str:
    ref = CredentialsRef(file=args.credentials) if args.credentials else machine.power.credentials
    if ref is not None and ref.secret and not ref.file:
        raise PowerError(
            f"credentials are in Secret {ref.namespace}/{ref.secret}; pass --credentials FILE",
            category="auth", machine=machine.name)
    power = machine_power(machine, await load_credentials(ref))
    try:
        return await _perform(power, PowerOperation(args.action), force=args.force)
    finally:
        await power.close()


async def _perform(power: MachinePower, action: PowerOperation, *, force: bool) -> str:
    if action is PowerOperation.ON:
        await power.power_on()
        return f"{power.machine}: power-on done ({power.on_driver.name})"
    if action is PowerOperation.OFF:
        await power.power_off(force=force)
        return f"{power.machine}: {'forced ' if force else ''}power-off done " \
               f"({power.off_driver.name})"
    return f"{power.machine}: {(await power.status()).value}"


def _plan(machine: MachineSpec, action: PowerOperation, *, force: bool) -> str:
    on, off = machine.power.on.driver, machine.power.off.driver
    if action is PowerOperation.ON:
        what = f"power on with {on}"
    elif action is PowerOperation.OFF:
        what = f"{'force ' if force else ''}power off with {off}"
    else:
        what = f"read power state with {off} (or {on})"
    return f"DRY RUN: {machine.name}: would {what}; nothing contacted"


def _find_machine(config_path: str, name: str) -> MachineSpec:
    for machine in load_config(config_path, drivers=DRIVERS).machines:
        if machine.name == name:
            return machine
    raise LookupError(f"no machine {name!r} in {config_path}")


def _config_problem(error: Exception) -> str:
    if isinstance(error, ConfigError):
        return "; ".join(str(problem) for problem in error.problems)
    return str(error.args[0]) if error.args else str(error)
