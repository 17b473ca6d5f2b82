"""The one interface the controller uses to power a machine, whatever reaches it.

Drivers differ in what they can do: Wake-on-LAN can only switch on and cannot see
the power state, SSH can only switch off. ``capabilities`` says which operations a
driver implements; calling one it lacks raises ``PowerError(category="unsupported")``.
Operations are a ``StrEnum``, so a typo is an error where it is written, while the
value on the IPMI worker's pipe, in logs and in metric labels stays the plain word.
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class PowerOperation(enum.StrEnum):
    """What a driver can be asked to do; the value is what logs, labels and pipes carry."""

    ON = "on"
    OFF = "off"
    FORCE_OFF = "force-off"
    STATUS = "status"


class PowerState(enum.Enum):
    """What the power source reports; UNKNOWN when it answered but not clearly."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


@runtime_checkable
class PowerDriver(Protocol):
    """One way of reaching one machine's power (a BMC, a MAC address, a shell...).

    Every method is required; a driver lacking an operation leaves it out of
    ``capabilities`` and raises ``PowerError(category="unsupported")`` from it.
    Methods are idempotent: powering on a machine that is on succeeds.
    """

    name: str
    capabilities: frozenset[PowerOperation]

    async def power_on(self) -> None:
        """Switch the machine on; return once the power source accepted (or reached) it."""
        ...

    async def power_off(self, *, force: bool = False) -> None:
        """Ask the OS to shut down, or cut power when ``force``."""
        ...

    async def status(self) -> PowerState:
        """The power state as the power source sees it."""
        ...

    async def close(self) -> None:
        """Release sessions and connections; safe to call twice."""
        ...


@runtime_checkable
class PowerMeter(Protocol):
    """Optional: a driver whose power source also reports the machine's draw.

    Only BMCs measure it (Redfish ``PowerControl``, IPMI DCMI); a driver that may
    reach one implements this, and raises ``PowerError(category="unsupported")``
    when the BMC it reaches does not report a reading.
    """

    async def power_watts(self) -> float:
        """The machine's draw now, in watts, as its BMC measures it."""
        ...
