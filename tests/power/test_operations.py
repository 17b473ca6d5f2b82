"""Power operations are an enum whose values are the words logs, labels and pipes carry."""

from __future__ import annotations

import json

from controller.power import NO_CREDENTIALS, PowerOperation, build_driver
from controller.power.ipmi_worker import perform
from tests.power.conftest import make_machine


def test_each_operation_is_its_plain_word() -> None:
    assert {operation.value for operation in PowerOperation} == {
        "on", "off", "force-off", "status"}
    for operation in PowerOperation:
        assert str(operation) == f"{operation}" == operation.value
        assert json.dumps({"operation": operation}) == f'{{"operation": "{operation.value}"}}'
        assert PowerOperation(operation.value) is operation
    assert PowerOperation.FORCE_OFF == "force-off"  # compares equal to the word it replaced


def test_capabilities_are_operations() -> None:
    wol = build_driver(make_machine({"driver": "wol"}).power.on,
                       machine=make_machine({"driver": "wol"}), credentials=NO_CREDENTIALS)
    assert wol.capabilities == frozenset({PowerOperation.ON})
    command = make_machine({"driver": "command", "settings": {"argv": ["true"]}})
    without_status = build_driver(command.power.on, machine=command,
                                  credentials=NO_CREDENTIALS)
    assert without_status.capabilities == frozenset(PowerOperation) - {PowerOperation.STATUS}


async def test_the_ipmi_worker_refuses_an_operation_it_does_not_know() -> None:
    answer = await perform({"operation": "reboot", "machine": "node-1",
                            "settings": {"host": "127.0.0.1"}, "username": "admin",
                            "password": "unused"})
    assert answer["ok"] is False
    assert answer["error"]["category"] == "rejected"
    assert "'reboot'" in answer["error"]["message"]
