"""The scanner finds a secret however it is shown, and names where without its value."""

from __future__ import annotations

import base64
import json

from tests.reliability.secrets import Secret, leaks

KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "QyNTUxOQAAACDpc3Q3ZXhhbXBsZWtleWZvcnRoZXNjYW5uZXJ0ZXN0AAAAmHRlc3R0ZXN0\n"
       "-----END OPENSSH PRIVATE KEY-----\n")
SECRETS = [Secret("BMC password", "rig-Pa55word"), Secret("SSH key", KEY),
           Secret("agent token", "agent-token-for-rig")]


def test_nothing_is_found_in_innocent_output() -> None:
    outputs = {"log": "powered on machine-1 with user admin; token accepted",
               "events": json.dumps({"reason": "PowerFailed", "message": "auth: bad login"})}
    assert leaks(outputs, SECRETS) == []


def test_a_secret_is_found_as_is_in_a_line_and_in_base64_at_any_offset() -> None:
    for prefix in ("", "a", "ab", "abc"):
        blob = base64.b64encode(f"{prefix}password=rig-Pa55word;".encode()).decode()
        assert leaks({"events": f'{{"data": "{blob}"}}'}, SECRETS) == [
            "events: BMC password (base64 at offset " f"{(len(prefix) + 9) % 3})"]
    half_key = KEY.splitlines()[2]
    assert leaks({"log": f"key: {half_key}", "metrics": "x agent-token-for-rig y"},
                 SECRETS) == ["log: SSH key (line 3)", "metrics: agent token (as is)"]
    assert "rig-Pa55word" not in "".join(leaks({"log": "rig-Pa55word"}, SECRETS))
