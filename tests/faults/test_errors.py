"""Every error raised at a boundary shares one base and says whether a retry can help."""

from __future__ import annotations

import importlib
import inspect

import pytest

from agent.settings import AgentConfigError
from agent.stream import StreamError
from controller.config import ConfigError
from controller.kube import errors as kube_errors
from controller.power import PowerError
from faults import BoundaryError
from wire import FrameError

BOUNDARY_MODULES = ("controller.power.errors", "controller.kube.errors",
                    "controller.config.loading", "agent.settings", "agent.stream",
                    "wire.protocol")
"""Where the project converts what it does not control into its own errors."""


def _errors_defined_in(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [value for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, BaseException)
            and value.__module__ == module_name]


@pytest.mark.parametrize("module_name", BOUNDARY_MODULES)
def test_every_error_of_a_boundary_module_is_a_boundary_error(module_name: str) -> None:
    defined = _errors_defined_in(module_name)
    assert defined, f"{module_name} defines no error"
    for error in defined:
        assert issubclass(error, BoundaryError), error
        assert isinstance(error.retriable, bool), error


@pytest.mark.parametrize(("error", "retriable"), [
    (PowerError("BMC did not answer", category="unreachable"), True),
    (PowerError("slow", category="timeout"), True),
    (PowerError("wrong password", category="auth"), False),
    (PowerError("no forced off", category="unsupported"), False),
    (PowerError("script failed", category="rejected"), False),
    (PowerError("busy, try again", category="rejected", retriable=True), True),
    (kube_errors.error_for_status(503, "unavailable"), True),
    (kube_errors.error_for_status(429, "throttled"), True),
    (kube_errors.error_for_status(408, "request timeout"), True),
    (kube_errors.error_for_status(409, "conflict"), True),
    (kube_errors.error_for_status(410, "gone"), True),
    (kube_errors.error_for_status(401, "who are you"), False),
    (kube_errors.error_for_status(403, "forbidden"), False),
    (kube_errors.error_for_status(404, "not found"), False),
    (kube_errors.error_for_status(422, "invalid"), False),
    (ConfigError(["pools[0].name: is required"]), False),
    (AgentConfigError("interval_s: -1 is below 0"), False),
    (StreamError("connection closed by the controller"), True),
    (FrameError("schema", "missing ['seq']"), False),
])
def test_retriable_says_whether_the_same_call_can_succeed_later(
        error: BoundaryError, retriable: bool) -> None:
    assert isinstance(error, BoundaryError)
    assert error.retriable is retriable


def test_the_base_keeps_the_library_types_callers_already_catch() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(FrameError, ValueError)
    assert issubclass(StreamError, ConnectionError)
    assert BoundaryError.retriable is False  # retrying what cannot succeed hides it
