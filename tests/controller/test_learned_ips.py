"""The IPs a machine's Node reports are kept with its record, in the state file and in
its BareMetalNode status alike."""

from __future__ import annotations

import json

from controller.kube.nodes import internal_ips
from controller.kube.records import record_of, status_of
from controller.machines import MachineRecord
from controller.planning import MachineState

RECORD = MachineRecord(state=MachineState.READY, since=1_790_000_000.0,
                       ips=("10.0.0.13", "10.0.1.13"), macs=("52:54:00:aa:bb:03",))


def test_learned_ips_survive_the_state_file_and_the_status() -> None:
    assert MachineRecord.from_json(json.loads(json.dumps(RECORD.to_json()))) == RECORD
    assert status_of(RECORD)["addresses"] == ["10.0.0.13", "10.0.1.13"]
    assert record_of(status_of(RECORD)) == RECORD


def test_only_internal_ips_are_learned() -> None:
    node = {"status": {"addresses": [{"type": "Hostname", "address": "small-1"},
                                     {"type": "InternalIP", "address": "10.0.0.13"},
                                     {"type": "ExternalIP", "address": "203.0.113.7"}]}}
    assert internal_ips(node) == ("10.0.0.13",)
    assert internal_ips({}) == ()
