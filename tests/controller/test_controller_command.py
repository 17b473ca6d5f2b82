"""``bamel controller``: unusable settings are exit 2 with a message; a bug keeps its traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bamel.cli import main
from controller.config import render_config
from controller.service import ControllerService
from tests.controller.test_actuation import CFG

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: unused}}]
contexts: [{name: here, context: {cluster: nowhere, user: nobody}}]
current-context: here
"""
"""Credentials that load without contacting anything: every case below fails before the
controller's first request."""

pytestmark = pytest.mark.usefixtures("fake_power_driver")  # CFG's machines name it


@pytest.fixture
def command(tmp_path: Path) -> list[str]:
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    (tmp_path / "config.yaml").write_text(render_config(CFG))
    return ["controller", "--config", str(tmp_path / "config.yaml"),
            "--kubeconfig", str(tmp_path / "kubeconfig"), "--no-leader-elect",
            "--listen", "127.0.0.1:0"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_settings_that_cannot_be_used_are_bad_settings(
        command: list[str], tmp_path: Path, taken_port: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "state.json"
    corrupt.write_text("{not json")
    cases = {
        "--agent-tokens": [*command, "--agent-tokens", str(tmp_path / "missing")],
        "--listen": [*command, "--listen", f"127.0.0.1:{taken_port}"],
        "--state-file": [*command, "--state-file", str(corrupt)],
        "--agent-service-account": [*command, "--token-review",
                                    "--agent-service-account", "nameless"],
    }
    for flag, argv in cases.items():
        assert main(argv) == 2, flag
        err = capsys.readouterr().err
        assert f"bamel controller: invalid settings:\n  {flag}" in err, err


def test_a_missing_config_file_is_bad_settings(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").unlink()
    assert main(command) == 2
    assert "config.yaml: cannot read" in capsys.readouterr().err


def test_a_bug_is_not_taken_for_bad_settings(
        command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: ControllerService) -> int:
        raise KeyError("a bug, not a setting")

    monkeypatch.setattr(ControllerService, "run", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(command)


def test_forget_nodes_after_reaches_the_service(
        command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    async def record(self: ControllerService) -> int:
        seen.append(self.settings.forget_nodes_after)
        return 0

    monkeypatch.setattr(ControllerService, "run", record)
    assert main([*command, "--forget-nodes-after", "42"]) == 0
    assert main(command) == 0
    assert seen == [42.0, 600.0]
    with pytest.raises(SystemExit):
        main([*command, "--forget-nodes-after", "0"])
