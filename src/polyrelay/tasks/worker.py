"""The task worker of one server process.

`tasks.workers` slot loops each claim a task (an atomic, leased UPDATE), run it, and end it
with a guarded UPDATE that only the lease holder can make. While a task runs, a heartbeat
renews its lease every third of `lease_seconds`; when the renewal fails (the task was
cancelled, possibly by another process) the run is cancelled. A server that dies leaves
its tasks `processing` with a lease that expires, after which any process claims them
again (`attempts` bounds how often). On a clean shutdown, running tasks are handed back
as pending at once. A purge loop deletes finished tasks after `retention_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from polyrelay.storage import StoreCall, TaskStore, call_at_once
from polyrelay.tasks.model import Task, TaskError
from polyrelay.tasks.runner import CRASHED, Outcome
from polyrelay.tasks.settings import TasksSettings

__all__ = ["TaskWorker"]

log = logging.getLogger("polyrelay.tasks")

Execute = Callable[[Task], Coroutine[Any, Any, Outcome]]
OnEnd = Callable[[Task, Outcome], Awaitable[None]]
_MAX_RETRY_DELAY = 60.0
_MAX_PURGE_INTERVAL = 600.0
_SHUTDOWN = TaskError(type="api_error", message="the server shut down during the run", status=503)


class TaskWorker:
    def __init__(
        self,
        store: TaskStore,
        settings: TasksSettings,
        execute: Execute,
        clock: Callable[[], float],
        on_end: OnEnd | None = None,
        *,
        call: StoreCall = call_at_once,
    ) -> None:
        """`call` makes the store calls (Database.call: never blocking the event loop)."""
        self.id = f"worker_{secrets.token_hex(6)}"
        self._store = store
        self._call = call
        self._settings = settings
        self._execute = execute
        self._clock = clock
        self._on_end = on_end
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        self.ended: list[Callable[[str], None]] = []
        """Called with its id after a task this process ran ends (e.g. to wake the webhook
        sender)."""

    async def start(self, *extra: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loops = [self._slot for _ in range(self._settings.workers)]
        for loop in (*loops, self._purge, *extra):
            self._loops.append(asyncio.create_task(loop()))
        # The id is the tasks' lease_owner: the log tells which process runs a task.
        log.info("task worker %s: %d slots", self.id, self._settings.workers)

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()

    def wake(self) -> None:
        self._wake.set()

    def cancel_local(self, task_id: str) -> bool:
        """Cancel the run of `task_id` if it runs in this process."""
        runner = self._running.get(task_id)
        if runner is None:
            return False
        runner.cancel()
        return True

    async def _slot(self) -> None:
        while True:
            task = await self._call(self._store.claim, self.id, self._settings.lease_seconds)
            if task is not None:
                await self._process(task)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_seconds):
                    await self._wake.wait()

    async def _process(self, task: Task) -> None:
        if task.attempts > self._settings.max_attempts:
            message = f"the task was interrupted {task.attempts - 1} times; giving up"
            error = TaskError(type="api_error", message=message, status=500)
            await self._end_fully(task, Outcome(error=error))
            return
        runner = asyncio.create_task(self._execute(task))
        self._running[task.id] = runner
        heartbeat = asyncio.create_task(self._heartbeat(task.id, runner))
        try:
            await asyncio.wait([runner])
        except asyncio.CancelledError:
            runner.cancel()
            # Shutting down: handed back at once, on this thread (the loop is stopping).
            self._store.retry(task.id, self.id, self._clock(), _SHUTDOWN)
            raise
        finally:
            heartbeat.cancel()
            self._running.pop(task.id, None)
        if runner.cancelled():
            return
        fault = runner.exception()
        if fault is not None:  # a bug in a run must not take its worker slot down with it
            log.error("task %s crashed", task.id, exc_info=fault)
            await self._end_fully(task, Outcome(error=CRASHED))
            return
        await self._end_fully(task, runner.result())

    async def _end_fully(self, task: Task, outcome: Outcome) -> None:
        """`_end`, run to its end even when the worker is stopped meanwhile: a run whose
        outcome was not stored would run again elsewhere once its lease expired."""
        ending = asyncio.ensure_future(self._end(task, outcome))
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            await ending
            raise

    async def _end(self, task: Task, outcome: Outcome) -> None:
        store, worker, call = self._store, self.id, self._call
        if outcome.result is not None:
            ended = await call(store.complete, task.id, worker, outcome.result)
        elif outcome.error is None:
            return
        elif outcome.retryable and task.attempts < self._settings.max_attempts:
            delay = self._settings.retry_base_seconds * 2 ** (task.attempts - 1)
            delay = min(max(delay, outcome.retry_after or 0.0), _MAX_RETRY_DELAY)
            log.info("task %s: %s; retry in %.1fs", task.id, outcome.error.message, delay)
            await call(store.retry, task.id, worker, self._clock() + delay, outcome.error)
            self._wake.set()
            return
        else:
            ended = await call(store.fail, task.id, worker, outcome.error)
        if not ended:  # cancelled meanwhile, or another process took over: not ours to end
            return
        if self._on_end is not None:
            await self._on_end(task, outcome)
        for callback in self.ended:
            callback(task.id)

    async def _heartbeat(self, task_id: str, runner: asyncio.Task[Outcome]) -> None:
        lease = self._settings.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if not await self._call(self._store.renew, task_id, self.id, lease):
                log.info("task %s is no longer leased here (cancelled?); stopping it", task_id)
                runner.cancel()
                return

    async def _purge(self) -> None:
        retention = self._settings.retention_seconds
        while True:
            purged = await self._call(self._store.purge, self._clock() - retention)
            if purged:
                log.info("purged %d finished tasks older than %ds", purged, retention)
            await asyncio.sleep(min(retention / 4, _MAX_PURGE_INTERVAL))
