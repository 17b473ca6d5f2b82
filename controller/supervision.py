"""The supervisor: every root task of the controller, named and guarded.

The controller is a handful of loops: informers, the pending-pod tracker and the
pump that feeds its snapshots to the reactor, the NodePool status writer, the
leader election, the configuration watcher, the reactor. Each must run until the
service stops it. One that ends on its own, by an exception its loop does not
expect or by returning, leaves the others running deaf: pending pods stop reaching
the reactor while the process still looks alive. So every root task is spawned
here, as kopf spawns its root tasks (``reactor/running.py``): the guard logs an
unexpected end with its traceback and records it, ``/healthz`` turns 503 naming
the task, and ``failed()`` wakes the service, which stops everything in reverse
order and exits non-zero so that Kubernetes restarts a clean process.

A task ends as expected only when it is cancelled, which is what a component's
``close()`` does. A CancelledError that reaches the guard while nobody cancelled
the task (a future it awaited was cancelled under it) is an unexpected end too.

The reactor's action tasks (one per machine action) are not root tasks: the
reactor owns them, waits for them and reports their failures itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from controller.tasks import Work

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""Seconds ``close()`` waits for cancelled tasks to end before naming them as hung:
a root task only awaits network calls with their own timeouts and the loop's own
sleeps, so one still running after this will not end by waiting longer."""


@dataclass(frozen=True)
class Failure:
    """A root task that ended on its own."""

    task: str
    error: BaseException | None
    """What it raised; None when it returned."""

    def __str__(self) -> str:
        if self.error is None:
            return f"task {self.task!r} returned"
        return f"task {self.task!r} raised {type(self.error).__name__}"


class Supervisor:
    """Spawns guarded root tasks; tells who failed first; cancels what is left at the end."""

    def __init__(self, *, stop_timeout: float = STOP_TIMEOUT) -> None:
        self.stop_timeout = stop_timeout
        self.failures: list[Failure] = []
        """Every unexpected end, in order."""
        self._failed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Work, *, name: str, once: bool = False) -> asyncio.Task[None]:
        """Run work as the task ``name``, guarded.

        A root task must run until cancelled: an exception or a return is a failure.
        ``once`` work (creating objects for a new configuration) may return; only an
        exception is a failure. This is the one way to start a supervised task, and
        tests use it to inject one that fails.
        """
        task = asyncio.create_task(self._guard(work, name=name, once=once), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A task cancelled before its first step never starts the guard: close the work
        # so that it is not reported as a coroutine never awaited.
        task.add_done_callback(lambda _: work.close())
        return task

    async def failed(self) -> Failure:
        """The first failure, as soon as there is one."""
        await self._failed.wait()
        return self.failures[0]

    def unhealthy(self) -> list[str]:
        """One line per failure, for ``/healthz``; empty while every task runs."""
        return [str(failure) for failure in self.failures]

    async def close(self) -> None:
        """Cancel every task still running and wait up to stop_timeout for them to end;
        log the ones that do not. Safe to call twice."""
        running = set(self._tasks)
        if not running:
            return
        for task in running:
            task.cancel()
        _, hung = await asyncio.wait(running, timeout=self.stop_timeout)
        for task in hung:
            log.error("task %r did not stop within %gs of being cancelled",
                      task.get_name(), self.stop_timeout)

    async def _guard(self, work: Work, *, name: str, once: bool) -> None:
        try:
            await work
        except asyncio.CancelledError as error:
            if _stopping():
                log.debug("task %r stopped", name)
                raise  # the expected end
            self._fail(Failure(name, error))
        except Exception as error:
            self._fail(Failure(name, error))
        else:
            if not once and not _stopping():
                self._fail(Failure(name, None))

    def _fail(self, failure: Failure) -> None:
        if failure.error is None:
            log.error("%s, though it must run until stopped: stopping the controller",
                      failure)
        else:
            log.error("%s: stopping the controller", failure, exc_info=failure.error)
        self.failures.append(failure)
        self._failed.set()


def _stopping() -> bool:
    """Whether someone asked the running task to stop (cancelled it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
