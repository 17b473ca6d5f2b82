"""The ``redfish`` driver: ComputerSystem.Reset and PowerState over Redfish (aiohttp).

A service may hold several systems: the one meant is named by id or UUID, or is the
only member. The reset type is picked from what the system says it allows
(``ResetType@Redfish.AllowableValues``), in a configurable order of preference,
because vendors differ (some lack GracefulShutdown, some want ForceOn). A reset
returns before the power changes, so the driver polls PowerState until the target
or ``powerTimeout``. The machine's draw, where the BMC measures it, is the first
``PowerControl`` entry's ``PowerConsumedWatts`` in the Power resource of the
system's chassis (the whole chassis: what the wall socket sees).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from controller.power.credentials import require_login
from controller.power.errors import Category, PowerError
from controller.power.polling import reaches
from controller.power.protocol import PowerOperation, PowerState
from controller.power.redfish_client import RedfishClient
from controller.power.settings import DriverSettings
from controller.power.target import Target

log = logging.getLogger(__name__)

NAME = "redfish"
RESET_ACTION = "#ComputerSystem.Reset"
_STATES = {"On": PowerState.ON, "Off": PowerState.OFF}


class RedfishSettings(DriverSettings):
    url: str = Field(pattern=r"^https?://")
    system: str | None = None
    """Id or UUID of the system; may be left out when the service holds only one."""
    username: str | None = None
    """Overrides the credentials' username when set."""
    auth: Literal["auto", "session", "basic"] = "auto"
    """auto: a session (X-Auth-Token) when the service offers one, else basic."""
    verify_tls: bool = True
    """Turn off only for a lab BMC with a throwaway certificate: it allows interception."""
    ca_bundle: str | None = None
    """PEM file of the CA (or the self-signed certificate) that signed the BMC's."""
    timeout: float = Field(15.0, gt=0)
    """Seconds one HTTP request may take; BMC web servers are slow."""
    wait: bool = True
    power_timeout: float = Field(300.0, gt=0)
    poll_interval: float = Field(2.0, gt=0)
    on_reset_types: list[str] = Field(default_factory=lambda: ["On", "ForceOn"])
    off_reset_types: list[str] = Field(default_factory=lambda: ["GracefulShutdown"])
    force_off_reset_types: list[str] = Field(default_factory=lambda: ["ForceOff"])


class RedfishDriver:
    """On, graceful off, forced off and status of one Redfish ComputerSystem."""

    name = NAME
    capabilities = frozenset(PowerOperation)

    def __init__(self, settings: RedfishSettings, *, machine: str, username: str,
                 password: str) -> None:
        self._settings = settings
        self._machine = machine
        self._client = RedfishClient(
            settings.url, username=username, password=password, auth=settings.auth,
            tls=self._tls_policy(), timeout=settings.timeout, error=self._error,
        )
        self._system_uri: str | None = None
        self._power_uri: str | None = None

    async def power_on(self) -> None:
        await self._change(self._settings.on_reset_types, PowerState.ON)

    async def power_off(self, *, force: bool = False) -> None:
        preferred = self._settings.force_off_reset_types if force else \
            self._settings.off_reset_types
        await self._change(preferred, PowerState.OFF)

    async def status(self) -> PowerState:
        system = await self._client.get(await self._system())
        return _STATES.get(str(system.get("PowerState")), PowerState.UNKNOWN)

    async def power_watts(self) -> float:
        """The draw the chassis reports (``PowerMeter``); unsupported when its BMC
        serves no Power resource or no reading in it."""
        uri = await self._power()
        return consumed_watts(await self._client.get(uri), uri, error=self._error)

    async def close(self) -> None:
        await self._client.close()

    async def reset(self, reset_type: str) -> None:
        """POST one reset of the given type, unchecked: the service judges it."""
        await self._post_reset(await self._client.get(await self._system()), reset_type)

    async def _change(self, preferred: list[str], target: PowerState) -> None:
        system = await self._client.get(await self._system())
        if _STATES.get(str(system.get("PowerState"))) == target:
            return
        reset_type = await self._choose(system, preferred)
        await self._post_reset(system, reset_type)
        if self._settings.wait:
            await self._wait_for(target, reset_type)

    async def _post_reset(self, system: dict[str, Any], reset_type: str) -> None:
        target = _reset_target(system, await self._system())
        await self._client.request("POST", target, {"ResetType": reset_type})
        log.info("%s: redfish reset %s accepted", self._machine, reset_type)

    async def _choose(self, system: dict[str, Any], preferred: list[str]) -> str:
        allowed = await self._allowed(system)
        if allowed is None:
            return preferred[0]  # the service does not say: send the first and let it judge
        for reset_type in preferred:
            if reset_type in allowed:
                return reset_type
        raise self._error(
            f"system allows ResetType {', '.join(allowed) or 'none'}; "
            f"none of {', '.join(preferred)}", "unsupported",
        )

    async def _allowed(self, system: dict[str, Any]) -> list[str] | None:
        action = system.get("Actions", {}).get(RESET_ACTION, {})
        values = action.get("ResetType@Redfish.AllowableValues")
        if isinstance(values, list):
            return [str(value) for value in values]
        info_uri = action.get("@Redfish.ActionInfo")
        if isinstance(info_uri, str):
            info = await self._client.get(info_uri)
            for parameter in info.get("Parameters", []):
                if parameter.get("Name") == "ResetType" and "AllowableValues" in parameter:
                    return [str(value) for value in parameter["AllowableValues"]]
        return None

    async def _wait_for(self, target: PowerState, reset_type: str) -> None:
        if not await reaches(self.status, target, within=self._settings.power_timeout,
                             every=self._settings.poll_interval):
            raise self._error(
                f"{reset_type}: PowerState not {target.value} after "
                f"{self._settings.power_timeout:g} s",
                "timeout",
            )

    async def _system(self) -> str:
        """The system's URI, found once: by id, by UUID, or as the only member."""
        if self._system_uri is None:
            self._system_uri = await self._find_system()
        return self._system_uri

    async def _find_system(self) -> str:
        root = await self._client.get("/redfish/v1/")
        collection = await self._client.get(root.get("Systems", {}).get("@odata.id",
                                                                        "/redfish/v1/Systems"))
        members = [str(member["@odata.id"]) for member in collection.get("Members", [])]
        wanted = self._settings.system
        if wanted is None:
            if len(members) == 1:
                return members[0]
            raise self._error(f"{len(members)} systems at {self._settings.url}; "
                              "set settings.system to an id or UUID", "rejected")
        for uri in members:
            if uri.rstrip("/").rsplit("/", 1)[-1] == wanted:
                return uri
        for uri in members:
            system = await self._client.get(uri)
            if wanted.lower() in (str(system.get("Id")).lower(), str(system.get("UUID")).lower()):
                return uri
        raise self._error(f"no system {wanted!r} among {len(members)} at {self._settings.url}",
                          "rejected")

    async def _power(self) -> str:
        """The Power resource of the system's chassis, found once."""
        if self._power_uri is None:
            chassis_uri = await self._chassis()
            link = (await self._client.get(chassis_uri)).get("Power")
            uri = link.get("@odata.id") if isinstance(link, dict) else None
            if not isinstance(uri, str):
                raise self._error(f"chassis {chassis_uri} serves no Power resource",
                                  "unsupported")
            self._power_uri = uri
        return self._power_uri

    async def _chassis(self) -> str:
        """The chassis the system links to, else the service's only one."""
        system = await self._client.get(await self._system())
        linked = system.get("Links", {}).get("Chassis") or []
        if linked and isinstance(linked[0], dict) and "@odata.id" in linked[0]:
            return str(linked[0]["@odata.id"])
        collection = await self._client.get("/redfish/v1/Chassis")
        members = [str(member["@odata.id"]) for member in collection.get("Members", [])]
        if len(members) == 1:
            return members[0]
        raise self._error(f"the system links no chassis and the service has {len(members)}",
                          "unsupported")

    def _tls_policy(self) -> ssl.SSLContext | bool:
        if not self._settings.verify_tls:
            return False
        if self._settings.ca_bundle is None:
            return True
        try:
            return ssl.create_default_context(cafile=self._settings.ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise self._error(f"CA bundle {self._settings.ca_bundle}: {error}",
                              "rejected") from error

    def _error(self, message: str, category: Category,
               retriable: bool | None = None) -> PowerError:
        return PowerError(message, category=category, retriable=retriable, driver=NAME,
                          machine=self._machine)


def consumed_watts(power: dict[str, Any], uri: str, *,
                   error: Callable[[str, Category], PowerError]) -> float:
    """``PowerControl[0].PowerConsumedWatts`` of a Redfish Power resource; unsupported
    when the BMC leaves it out or null (many do while the chassis is off)."""
    controls = power.get("PowerControl")
    first = controls[0] if isinstance(controls, list) and controls else {}
    watts = first.get("PowerConsumedWatts") if isinstance(first, dict) else None
    if isinstance(watts, bool) or not isinstance(watts, int | float) or watts < 0:
        raise error(f"{uri} reports no PowerControl[0].PowerConsumedWatts", "unsupported")
    return float(watts)


def _reset_target(system: dict[str, Any], system_uri: str) -> str:
    target = system.get("Actions", {}).get(RESET_ACTION, {}).get("target")
    return str(target) if target else f"{system_uri.rstrip('/')}/Actions/ComputerSystem.Reset"


def build(settings: RedfishSettings, target: Target) -> RedfishDriver:
    """The registry's factory for ``redfish``: URL in settings, user and password in credentials."""
    machine = target.machine.name
    username, password = require_login(target.credentials, settings.username, driver=NAME,
                                       machine=machine)
    return RedfishDriver(settings, machine=machine, username=username, password=password)
