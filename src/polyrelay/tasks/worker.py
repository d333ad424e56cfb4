"""The task worker of one server process.

`tasks.workers` slot loops each claim a task (an atomic, leased UPDATE), run it, and end it
with a guarded UPDATE that only the lease holder can make. While a task runs, a heartbeat
renews its lease every third of `lease_seconds`; when the renewal fails (the task was
cancelled, possibly by another process) the run is cancelled. A server that dies leaves
its tasks `processing` with a lease that expires, after which any process claims them
again (`attempts` bounds how often). On a clean shutdown, running tasks are handed back
as pending at once. A purge loop deletes finished tasks after `retention_seconds`.

Every loop outlives a database outage (a PostgreSQL or PgBouncer restart): a store call
that raises is logged once per outage and retried with a backoff (polyrelay.background_loop);
a loop that died instead would leave every later task `pending` for good. What happens to
a task claimed here during an outage is told at `_heartbeat` and `_end_fully`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from polyrelay.background_loop import Outage, keep_running, retry_until, stored_until
from polyrelay.backoff import DELAYS, Backoff, Delays
from polyrelay.storage import BatchStore, StoreCall, TaskStore, call_at_once
from polyrelay.storage.batches import KEPT_SECONDS, PURGE_CHUNK
from polyrelay.storage.retention import purge_in_chunks
from polyrelay.tasks.lease import Lease
from polyrelay.tasks.model import Task, TaskError, TaskStatus
from polyrelay.tasks.runner import Outcome, crashed
from polyrelay.tasks.settings import TasksSettings

__all__ = ["TaskWorker"]

log = logging.getLogger("polyrelay.tasks")

Execute = Callable[[Task], Coroutine[Any, Any, Outcome]]
OnEnd = Callable[[Task, Outcome], Awaitable[None]]
_MAX_RETRY_DELAY = 60.0
_MAX_PURGE_INTERVAL = 600.0
_SHUTDOWN = TaskError(type="api_error", message="the server shut down during the run", status=503)
_SHUTDOWN_WAIT = 1.0
"""How long a shutdown waits for a run's outcome to be stored: the store gets one try
(`Outage.stopping`), which a hung connection could stretch to the server's grace period."""


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
        delays: Delays = DELAYS,
        batches: BatchStore | None = None,
    ) -> None:
        """`call` makes the store calls (Database.call: never blocking the event loop);
        `delays` are the pauses between the retries of failing ones; the purge deletes
        `batches` KEPT_SECONDS after their creation."""
        self.id = f"worker_{secrets.token_hex(6)}"
        self._store = store
        self._batches = batches
        self._outage = Outage(log, f"task worker {self.id}: task store calls", delays)
        """Shared by the loops: one outage of the database is logged once, not per slot."""
        self._call = self._outage.watched(call)
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
        self._outage.stopping = True  # an outcome being stored gets no more retries
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
        await keep_running(self._next_task, self._outage)

    async def _next_task(self) -> None:
        """Claim a task and run it, or wait for one (a step of a slot's loop)."""
        asked = time.monotonic()
        task = await self._call(self._store.claim, self.id, self._settings.lease_seconds)
        if task is not None:
            await self._process(task, Lease(asked, self._settings.lease_seconds))
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.poll_seconds):
                await self._wake.wait()

    async def _process(self, task: Task, lease: Lease) -> None:
        if task.attempts > self._settings.max_attempts:
            message = f"the task was interrupted {task.attempts - 1} times; giving up"
            error = TaskError(type="api_error", message=message, status=500)
            await self._end_fully(task, Outcome(error=error), lease)
            return
        runner = asyncio.create_task(self._execute(task))
        self._running[task.id] = runner
        heartbeat = asyncio.create_task(self._heartbeat(task.id, runner, lease))
        try:
            await asyncio.wait([runner])
        except asyncio.CancelledError:
            runner.cancel()
            self._hand_back(task)
            raise
        finally:
            heartbeat.cancel()
            self._running.pop(task.id, None)
        if runner.cancelled():
            return
        fault = runner.exception()
        if fault is not None:  # a bug in a run must not take its worker slot down with it
            await self._end_fully(task, crashed(fault, f"task {task.id}"), lease)
            return
        await self._end_fully(task, runner.result(), lease)

    def _hand_back(self, task: Task) -> None:
        """Shutting down: the task back to pending at once, on this thread (the loop is
        stopping). Without the database, it is claimed again once its lease expires."""
        try:
            self._store.retry(task.id, self.id, self._clock(), _SHUTDOWN)
        except Exception:
            log.exception("task %s could not be handed back; it runs again later", task.id)

    async def _end_fully(self, task: Task, outcome: Outcome, lease: Lease) -> None:
        """`_end`, run to its end even when the worker is stopped meanwhile: a run whose
        outcome was not stored would run again elsewhere once its lease expired.

        A store call that fails (the database restarting) is retried until the lease
        would expire. An outcome stored late is still safe: the guarded UPDATEs change
        nothing once another process has claimed the task. One that could not be stored
        at all leaves the task `processing`: it runs again (one more attempt) once its
        lease expires, so it is repeated, never lost. Hence a shutdown waits for it for
        one try only, `_SHUTDOWN_WAIT` at most: the process must stop in its grace period."""
        ending = asyncio.ensure_future(self._end(task, outcome, lease.expires))
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            await asyncio.wait([ending], timeout=_SHUTDOWN_WAIT)
            ending.cancel()
            ending.add_done_callback(_retrieve)
            raise
        except Exception:
            log.warning("task %s: its outcome could not be stored; it runs again", task.id)
            raise

    async def _end(self, task: Task, outcome: Outcome, deadline: float) -> None:
        store, worker, call, outage = self._store, self.id, self._call, self._outage
        if outcome.result is not None:
            final = TaskStatus.SUCCESS
            ended = await stored_until(
                deadline, outage, call, store.complete, task.id, worker, outcome.result
            )
        elif outcome.error is None:
            return
        elif outcome.retryable and task.attempts < self._settings.max_attempts:
            delay = self._settings.retry_base_seconds * 2 ** (task.attempts - 1)
            delay = min(max(delay, outcome.retry_after or 0.0), _MAX_RETRY_DELAY)
            log.info("task %s: %s; retry in %.1fs", task.id, outcome.error.message, delay)
            at = self._clock() + delay
            await stored_until(
                deadline, outage, call, store.retry, task.id, worker, at, outcome.error
            )
            self._wake.set()
            return
        else:
            final = TaskStatus.FAILED
            ended = await stored_until(
                deadline, outage, call, store.fail, task.id, worker, outcome.error
            )
        if not ended and not await self._ended_here(task, final, deadline):
            return  # cancelled meanwhile, or another process took over: not ours to end
        await self._ended_hooks(task, outcome)

    async def _ended_here(self, task: Task, final: TaskStatus, deadline: float) -> bool:
        """Whether this lease ended the task after all: a try whose commit went through
        but whose answer was lost (a connection dropped) makes its retry find it ended.
        Every claim counts an attempt: the same count says nobody claimed it since."""
        got = await stored_until(deadline, self._outage, self._call, self._store.get, task.id)
        return got is not None and got.status is final and got.attempts == task.attempts

    async def _ended_hooks(self, task: Task, outcome: Outcome) -> None:
        on_end = self._on_end
        if on_end is not None:  # the task has ended: no lease left, same bound on retries
            ends = time.monotonic() + self._settings.lease_seconds
            try:
                await retry_until(ends, self._outage, lambda: on_end(task, outcome))
            except Exception:
                log.exception("task %s ended, but its end could not be recorded", task.id)
        for callback in self.ended:
            callback(task.id)

    async def _heartbeat(self, task_id: str, runner: asyncio.Task[Outcome], lease: Lease) -> None:
        """Renew the lease every third of `lease_seconds` while the task runs.

        A renewal refused means the task was cancelled, or another process holds it now:
        the run stops. A renewal that fails or hangs (the database unreachable) is retried
        with a backoff; if none succeeds by `lease.stop_at`, the run is stopped as well,
        since once the lease expires another process may claim the task, and two runs of
        one task must never overlap. That task stays `processing` under the expired lease,
        so it is not lost: a process (this one too) claims it again once the database
        answers, as an attempt more (bounded by `max_attempts`)."""
        seconds = self._settings.lease_seconds
        backoff = Backoff(self._outage.delays)
        pause = seconds / 3
        fault: BaseException | None = None
        while True:
            await asyncio.sleep(pause)
            asked = time.monotonic()
            if asked >= lease.stop_at:
                log.warning(
                    "task %s: its lease could not be renewed (%s); its run stops here and"
                    " starts again once the lease expires",
                    task_id,
                    fault,
                )
                runner.cancel()
                return
            renewal = asyncio.ensure_future(
                self._call(self._store.renew, task_id, self.id, seconds)
            )
            # Never cancelled (a store call is left to finish): at the deadline, unwaited.
            renewal.add_done_callback(_retrieve)
            await asyncio.wait([renewal], timeout=lease.stop_at - asked)
            fault = renewal.exception() if renewal.done() else TimeoutError("no answer")
            if fault is not None:
                if renewal.done():
                    self._outage.note(fault)
                else:  # no answer: the database (or the way to it) is down, not a bug
                    self._outage.failed(fault)
                pause = min(backoff.take(), max(0.0, lease.stop_at - time.monotonic()))
                continue
            if not renewal.result():
                log.info("task %s is no longer leased here (cancelled?); stopping it", task_id)
                runner.cancel()
                return
            lease.renewed(asked)
            backoff.reset()
            pause = seconds / 3

    async def _purge(self) -> None:
        await keep_running(self._purge_once, self._outage)

    async def _purge_once(self) -> None:
        retention = self._settings.retention_seconds
        purged = await self._purge_tasks(self._clock() - retention)
        if purged:
            log.info("purged %d finished tasks older than %ds", purged, retention)
        if self._batches is not None:
            await self._purge_batches(self._batches)
        await asyncio.sleep(min(retention / 4, _MAX_PURGE_INTERVAL))

    async def _purge_tasks(self, cutoff: float) -> int:
        """The tasks that ended before `cutoff`, a chunk per transaction."""
        return await purge_in_chunks(self._call, self._store.purge, cutoff, PURGE_CHUNK)

    async def _purge_batches(self, batches: BatchStore) -> None:
        """The ended Message Batches past Anthropic's 29 days, a chunk per transaction (a
        chunk comes short only once none is left: fewer request rows than a chunk were
        left, so every such batch is empty and fewer than a chunk of them were)."""
        cutoff = self._clock() - KEPT_SECONDS
        total = await purge_in_chunks(self._call, batches.purge, cutoff, PURGE_CHUNK)
        if total:
            log.info("purged %d rows of Message Batches older than 29 days", total)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a finished future's exception as seen (the heartbeat logs it, or moved on)."""
    if not future.cancelled():
        future.exception()
