"""Each machine's lifecycle record, and where it is kept between restarts.

The record is written before every action that changes the world (a power-on is
recorded as ``powering-on`` before the BMC is called), so a controller that dies
mid-action resumes from the record and never repeats the call. In CRD mode the
record is the BareMetalNode status; in no-CRD mode it is a JSON state file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.config import SettingsError
from controller.planning import MachineState

BOOT_WEIGHT = 0.25
"""The weight of the newest boot in the moving average of boot times.

A machine boots a few times a day at most, so the average must learn from few
samples, yet one slow boot (a firmware update, a disk check) must not move it far,
since the next one is usually back to normal and the join timeout (at least twice
the average) follows it. At 0.25 a one-off boot of twice the average raises it by a
quarter, while a lasting change is half learned after 2.4 boots
(0.75 ** 2.4 = 0.5) and 90% after 8, so a wrong ``bootTime`` stops mattering within
a few days of ordinary use."""


@dataclass(frozen=True)
class MachineRecord:
    state: MachineState = MachineState.OFF
    since: float = 0.0
    failures: int = 0
    backoff_until: float = 0.0
    last_error: str = ""
    last_action: str = ""
    power_state: str = "unknown"
    kubernetes_node: str = ""
    observed_boot_seconds: float = 0.0
    """The last boot measured: from the power-on call to the Node Ready."""
    average_boot_seconds: float = 0.0
    """The boots measured so far as a moving average (see ``learn_boot``); 0 until the
    first, when the configured ``bootTime`` stands for it."""
    power_action: str = ""
    """The last power call: "on" or "off", with its driver, wall time and result."""
    power_driver: str = ""
    power_time: float = 0.0
    power_result: str = ""
    macs: tuple[str, ...] = ()
    """NIC addresses the machine's agent last reported: Wake-on-LAN sends to them when
    the configuration names none, so they must outlive a restart."""
    allocatable: tuple[tuple[str, float], ...] = ()
    """What its Node reported allocatable (Kubernetes resource name, amount) the last
    time it was Ready: the template the scale-up estimate packs pods onto while the
    machine is off, so it must outlive the power-off and a restart."""
    node_labels: tuple[tuple[str, str], ...] = ()
    """Its Node's labels the last time it was Ready, for the same template."""
    drain_refusals: int = 0
    """Drains refused in a row; doubles the wait before it is offered for power-off again."""
    bmc_failures: int = 0
    """BMC calls (power calls and status reads) that failed in a row; see
    ``controller.quarantine``."""
    quarantined: bool = False
    """Set aside after ``quarantine.afterFailures`` of them: the planner does not choose
    the machine, and only a slow status read probes it until its BMC answers."""
    ips: tuple[str, ...] = ()
    """The InternalIP addresses its Node reported the last time it was Ready: where the
    neighbour table is asked for a MAC when no agent reported one."""
    hardware: tuple[tuple[str, str], ...] = ()
    """What the machine's firmware says it is, as its agent read it (DMI ``vendor``,
    ``product``, ``serial``): so a person finds the box in the rack, and the record
    says which one answered if a MAC or an address moves."""
    host_addresses: tuple[str, ...] = ()
    """The addresses its agent reported of the machine itself (those of the interfaces
    its default routes leave by), which a Node may not list."""
    energy_joules: float = 0.0
    """Energy the machine drew since ``energy_since``, as the energy meter last wrote it
    (``controller.energy``): a restarted controller continues from here."""
    always_on_joules: float = 0.0
    """What it would have drawn over the same time had it never been powered off."""
    energy_since: float = 0.0
    """Wall-clock time the meter first counted the machine; 0 before."""

    def moved(self, state: MachineState, now: float, **changes: object) -> MachineRecord:
        """A copy in a new state since now, with other fields changed."""
        return dataclasses.replace(self, state=state, since=now, **changes)  # type: ignore[arg-type]

    def expected_boot_seconds(self, configured: float) -> float:
        """How long this machine takes from power-on to Ready: the learned average,
        else the configured ``bootTime``. The join timeout and the scorer use it."""
        return self.average_boot_seconds or configured

    def learn_boot(self, seconds: float, *, configured: float) -> MachineRecord:
        """A copy with one measured boot added to the average.

        The configured ``bootTime`` is the prior: the average starts there and each
        boot moves it BOOT_WEIGHT of the way to the measurement.
        """
        average = self.expected_boot_seconds(configured)
        return dataclasses.replace(
            self, observed_boot_seconds=seconds,
            average_boot_seconds=average + BOOT_WEIGHT * (seconds - average))

    def with_node_facts(self, allocatable: Mapping[str, float],
                        labels: Mapping[str, str]) -> MachineRecord:
        """A copy with what its Ready Node reports (sorted: equal facts, equal records)."""
        return dataclasses.replace(self, allocatable=tuple(sorted(allocatable.items())),
                                   node_labels=tuple(sorted(labels.items())))

    def with_host_facts(self, dmi: Mapping[str, str],
                        addresses: Iterable[str]) -> MachineRecord:
        """A copy with what its agent reports of the machine (sorted, as node facts)."""
        return dataclasses.replace(self, hardware=tuple(sorted(dmi.items())),
                                   host_addresses=tuple(addresses))

    def to_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> MachineRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["state"] = MachineState(str(values.get("state", "off")))
        macs = values.get("macs")
        values["macs"] = tuple(str(mac) for mac in macs) if isinstance(macs, list) else ()
        for name in ("ips", "host_addresses"):
            listed = values.get(name)
            values[name] = tuple(str(ip) for ip in listed) if isinstance(listed, list) else ()
        values["hardware"] = tuple((str(k), str(v)) for k, v in _pairs(values.get("hardware")))
        values["allocatable"] = tuple((str(k), float(str(v))) for k, v in
                                      _pairs(values.get("allocatable")))
        values["node_labels"] = tuple((str(k), str(v)) for k, v in
                                      _pairs(values.get("node_labels")))
        return cls(**values)  # type: ignore[arg-type]


def _pairs(value: object) -> list[tuple[object, object]]:
    """[[key, value], ...] as JSON keeps a tuple of pairs; anything else is none."""
    if not isinstance(value, list):
        return []
    return [(pair[0], pair[1]) for pair in value if isinstance(pair, list) and len(pair) == 2]


def machine_of_node(node: str, names: Iterable[str],
                    records: Mapping[str, MachineRecord]) -> str | None:
    """The configured machine whose Node is ``node``: the one that joined as it, else the
    one of that name (a machine's Node is named after it until it has joined)."""
    candidates = list(names)
    for name in candidates:
        record = records.get(name)
        if record is not None and record.kubernetes_node == node:
            return name
    return node if node in candidates else None


class MachineStore(Protocol):
    """Keeps machine records; ``put`` returns only once the record is durable."""

    async def load(self) -> dict[str, MachineRecord]: ...

    async def put(self, name: str, record: MachineRecord) -> None: ...


class FileMachineStore:
    """No-CRD mode: every record in one JSON file, replaced atomically on each change.

    The write (temp file, fsync, rename) runs in a worker thread: an fsync takes
    milliseconds on a quiet disk and far longer on a busy one, and on the event loop
    it would hold up every agent stream and watch. Writes go one at a time, in the
    order of the puts, each with every record put so far, so the file never goes
    back to an older state; a put whose caller is cancelled still finishes its write
    before the next one starts.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._records: dict[str, MachineRecord] = {}
        self._turn = asyncio.Lock()

    async def load(self) -> dict[str, MachineRecord]:
        return self.read()

    def read(self) -> dict[str, MachineRecord]:
        """Read the file (an absent file is an empty fleet)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as error:
            raise SettingsError(f"--state-file {self.path}: unreadable ({error})") from error
        self._records = {name: MachineRecord.from_json(data) for name, data in raw.items()}
        return dict(self._records)

    async def put(self, name: str, record: MachineRecord) -> None:
        """Record and write through, off the event loop; returns once the file is durable."""
        self._records[name] = record
        await asyncio.shield(asyncio.ensure_future(self._write_in_turn()))

    async def _write_in_turn(self) -> None:
        async with self._turn:
            payload = json.dumps({n: r.to_json() for n, r in sorted(self._records.items())},
                                 indent=1)
            await asyncio.to_thread(self._write, payload)

    def _write(self, payload: str) -> None:
        write_atomically(self.path, payload, prefix=".state-")


def write_atomically(path: Path, payload: str, *, prefix: str) -> None:
    """Temp file, fsync, rename: the file is the old one or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


class MemoryMachineStore:
    """Records in memory only: dry runs and unit tests."""

    def __init__(self, records: dict[str, MachineRecord] | None = None) -> None:
        self._records = dict(records or {})

    async def load(self) -> dict[str, MachineRecord]:
        return self.read()

    def read(self) -> dict[str, MachineRecord]:
        return dict(self._records)

    async def put(self, name: str, record: MachineRecord) -> None:
        self._records[name] = record
