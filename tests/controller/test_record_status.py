"""What a record shows in its BareMetalNode status: the IPs its Node reports (kept in the
state file too) and the conditions."""

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


def test_what_the_agent_says_of_its_machine_survives_the_state_file_and_the_status() -> None:
    record = RECORD.with_host_facts({"vendor": "Dell Inc.", "serial": "7XK2Q13"},
                                    ("10.0.4.17", "2001:db8::17"))
    assert record.hardware == (("serial", "7XK2Q13"), ("vendor", "Dell Inc."))
    assert MachineRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    status = status_of(record)
    assert status["hardware"] == {"serial": "7XK2Q13", "vendor": "Dell Inc."}
    assert status["hostAddresses"] == ["10.0.4.17", "2001:db8::17"]
    assert record_of(status) == record
    assert status_of(RECORD)["hardware"] is None  # nothing reported: the field cleared


def test_only_internal_ips_are_learned() -> None:
    node = {"status": {"addresses": [{"type": "Hostname", "address": "small-1"},
                                     {"type": "InternalIP", "address": "10.0.0.13"},
                                     {"type": "ExternalIP", "address": "203.0.113.7"}]}}
    assert internal_ips(node) == ("10.0.0.13",)
    assert internal_ips({}) == ()


def test_conditions_say_power_join_hold_and_quarantine() -> None:
    quarantined = MachineRecord(state=MachineState.ERROR, since=1_790_000_000.0,
                                power_action="on", power_driver="ipmi",
                                power_result="unreachable", bmc_failures=3, quarantined=True)
    conditions = {c["type"]: c for c in status_of(quarantined, held="off")["conditions"]}
    assert {kind: c["status"] for kind, c in conditions.items()} == {
        "PowerOK": "False", "Joined": "False", "Overridden": "True", "Quarantined": "True"}
    assert conditions["PowerOK"]["message"] == "power on with ipmi failed: unreachable"
    assert conditions["Joined"]["reason"] == "Error"
    assert conditions["Quarantined"]["message"] == (
        "set aside after 3 failed BMC calls in a row; probed until its BMC answers")
    fresh = {c["type"]: c["status"] for c in status_of(MachineRecord())["conditions"]}
    assert fresh == {"PowerOK": "Unknown", "Joined": "False", "Overridden": "False",
                     "Quarantined": "False"}
