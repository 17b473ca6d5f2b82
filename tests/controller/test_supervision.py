"""The supervisor: an unexpected end of a root task is logged, reported and ends the wait."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging

import pytest

from controller.supervision import Supervisor
from controller.tasks import cancel_and_wait


async def forever() -> None:
    await asyncio.Event().wait()


async def broken() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("the pump met a snapshot it cannot read")


async def test_an_exception_is_a_failure_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor()
    healthy = supervisor.spawn(forever(), name="pending-pods")
    supervisor.spawn(broken(), name="pending-pump")
    failure = await asyncio.wait_for(supervisor.failed(), 5)
    assert failure.task == "pending-pump" and isinstance(failure.error, RuntimeError)
    assert supervisor.unhealthy() == ["task 'pending-pump' raised RuntimeError"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "'pending-pump'" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is failure.error
    assert "Traceback" in caplog.text and "cannot read" in caplog.text
    assert not healthy.done()  # the others run until the service stops them
    await supervisor.close()
    assert healthy.cancelled()


async def test_a_root_task_that_returns_is_a_failure_and_once_work_may_return() -> None:
    supervisor = Supervisor()
    await supervisor.spawn(asyncio.sleep(0), name="ensure NodePools", once=True)
    assert supervisor.failures == []
    await supervisor.spawn(asyncio.sleep(0), name="nodepool-status")
    assert supervisor.unhealthy() == ["task 'nodepool-status' returned"]
    await supervisor.spawn(broken(), name="ensure BareMetalNodes", once=True)
    assert [f.task for f in supervisor.failures] == ["nodepool-status", "ensure BareMetalNodes"]
    assert (await supervisor.failed()).task == "nodepool-status"  # the first one


async def test_a_task_stopped_by_its_component_is_no_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.supervision")
    supervisor = Supervisor()
    task = supervisor.spawn(forever(), name="reactor")
    await asyncio.sleep(0)
    await cancel_and_wait(task)  # what close() does
    assert task.cancelled() and supervisor.failures == []
    assert "task 'reactor' stopped" in caplog.text


async def test_a_cancellation_nobody_asked_for_is_a_failure() -> None:
    supervisor = Supervisor()
    cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def awaits_a_future_cancelled_under_it() -> None:
        await cancelled

    task = supervisor.spawn(awaits_a_future_cancelled_under_it(), name="informer /api/v1/pods")
    await asyncio.sleep(0)
    cancelled.cancel()
    failure = await asyncio.wait_for(supervisor.failed(), 5)
    assert failure.task == "informer /api/v1/pods"
    assert isinstance(failure.error, asyncio.CancelledError)
    assert task.done() and not task.cancelled()


async def test_work_cancelled_before_it_began_is_closed() -> None:
    supervisor = Supervisor()
    work = forever()
    supervisor.spawn(work, name="config-map")
    await supervisor.close()
    assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED
    assert supervisor.failures == []


async def test_shutdown_unwinds_newest_first_then_cancels_what_is_left(
        caplog: pytest.LogCaptureFixture) -> None:
    stopped: list[str] = []
    release = asyncio.Event()

    async def root(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(name)

    async def deaf() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    supervisor = Supervisor(stop_timeout=0.05)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(supervisor.close)
        for name in ("leader-election", "informer /api/v1/pods", "reactor"):
            stack.push_async_callback(cancel_and_wait, supervisor.spawn(root(name), name=name))
        supervisor.spawn(root("ensure NodePools"), name="ensure NodePools", once=True)
        hung = supervisor.spawn(deaf(), name="deaf")
        await asyncio.sleep(0)
    assert stopped == ["reactor", "informer /api/v1/pods", "leader-election",
                       "ensure NodePools"]
    assert "task 'deaf' did not stop within 0.05s" in caplog.text
    assert supervisor.failures == []
    release.set()
    await hung
