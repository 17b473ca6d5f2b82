"""Settings of the ``ipmi`` driver, shared by the driver and its worker process."""

from __future__ import annotations

from pydantic import Field

from controller.power.settings import DriverSettings

NAME = "ipmi"
READING = "power-reading"
"""The worker request for the DCMI power reading: not a ``PowerOperation``, since it
changes nothing and only BMCs with DCMI answer it (``controller.power.PowerMeter``)."""


class IpmiSettings(DriverSettings):
    host: str
    port: int = Field(623, ge=1, le=65535)
    username: str | None = None
    """Overrides the credentials' username when set."""
    timeout: float = Field(10.0, gt=0)
    """Seconds one BMC exchange (login, command) may take before it counts as unreachable."""
    wait: bool = True
    """Poll until the chassis reports the target state; False returns once accepted."""
    power_timeout: float = Field(120.0, gt=0)
    """Seconds for the chassis to reach the target state; servers take tens of seconds."""
    poll_interval: float = Field(1.0, gt=0)
