"""Quarantine: a machine whose BMC keeps failing is set aside until it answers again.

The backoff alone would keep calling a dead BMC at its ceiling for ever: an Event,
a metric and, for a wrong password, one more step towards a locked BMC account each
time, while the planner keeps choosing the machine first by its score. OpenStack
Ironic puts a node whose power calls fail a set number of times in a row into
maintenance with a "power failure" fault, and reads its power every recovery
interval until it answers; this is the same rule. After ``quarantine.afterFailures``
failed BMC calls in a row the machine is quarantined: the planner does not choose
it (``bamel explain`` says why), and only a status read, which changes nothing, is
sent to it every ``quarantine.probeInterval``. The first read that answers releases
it, with no one's help.

The rule has one owner, this module: the actuator applies it after each power call,
the power sync (``controller.powersync``) after each status read, and both report a
transition through ``report``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from controller.config import MachineSpec
from controller.machines import MachineRecord
from controller.metrics import ControllerMetrics
from controller.planning import MachineState

if TYPE_CHECKING:  # the actuator applies this module's rule: no import at run time
    from controller.actuation import MachineEvents

log = logging.getLogger(__name__)


def failed(record: MachineRecord, *, after: int) -> MachineRecord:
    """record after one more failed BMC call; quarantined once ``after`` are in a row."""
    count = record.bmc_failures + 1
    return dataclasses.replace(record, bmc_failures=count,
                               quarantined=record.quarantined or count >= after)


def succeeded(record: MachineRecord) -> MachineRecord:
    """record after a power call went through: the BMC works, the count starts again."""
    return dataclasses.replace(record, bmc_failures=0, quarantined=False)


def answered(record: MachineRecord) -> MachineRecord:
    """record after a status read answered.

    It releases a quarantined machine (the recovery). Outside quarantine it resets
    the count only when no failed power call is outstanding (the machine is not in
    ``error``): a BMC that answers reads but never carries out a command must still
    reach quarantine.
    """
    if record.quarantined or record.state is not MachineState.ERROR:
        return dataclasses.replace(record, bmc_failures=0, quarantined=False)
    return record


async def report(before: MachineRecord, after: MachineRecord, *, spec: MachineSpec,
                 events: MachineEvents, metrics: ControllerMetrics, probe_interval: float,
                 reason: str) -> None:
    """An Event, a log line and the metrics when a machine enters or leaves quarantine."""
    if after.quarantined == before.quarantined:
        return
    metrics.quarantined.labels(spec.name).set(1 if after.quarantined else 0)
    if after.quarantined:
        metrics.quarantines.labels(spec.name, "entered").inc()
        message = (f"quarantined after {after.bmc_failures} failed BMC calls in a row "
                   f"(last: {reason}); not chosen until a status read, sent every "
                   f"{probe_interval:g}s, answers")
        log.error("%s %s", spec.name, message)
        await events.machine_event(spec, "Quarantined", message, warning=True)
        return
    metrics.quarantines.labels(spec.name, "released").inc()
    message = f"released from quarantine: {reason}"
    log.warning("%s %s", spec.name, message)
    await events.machine_event(spec, "QuarantineReleased", message)
