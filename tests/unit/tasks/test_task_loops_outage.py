"""The task machinery's loops outlive store calls that fail (a PostgreSQL or PgBouncer
restart): each failure is retried with a backoff, the outage is logged once and its end
once, and a task claimed during it is neither lost nor run twice at the same time."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from tests.unit.tasks.test_task_worker import new_task

from polyrelay import background_loop
from polyrelay.backoff import Delays
from polyrelay.fetch.client import FetchResult
from polyrelay.storage.sqlite import SqliteDatabase
from polyrelay.storage.tasks import SqlTaskStore
from polyrelay.tasks.model import Task, TaskStatus
from polyrelay.tasks.runner import Outcome
from polyrelay.tasks.settings import TasksSettings
from polyrelay.tasks.webhooks import WebhookSender
from polyrelay.tasks.worker import TaskWorker

HOOK = "http://hook.test/x"
DOWN = "connection failed: server closed the connection unexpectedly"


FAST = Delays(0.01, 0.04)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase.open(str(tmp_path / "tasks.db"), clock=time.time)
    yield database
    database.close()


class FlakyStore:
    """The task store, whose methods named in `failures` raise that many times first
    (as psycopg does while PostgreSQL restarts); `down` makes them all raise."""

    def __init__(self, store: SqlTaskStore, **failures: int) -> None:
        self.store = store
        self.failures = failures
        self.down = False
        self.calls: dict[str, int] = {}
        self.lost: set[str] = set()
        """Names whose next call is made, then raises (its answer lost on the way)."""

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.down or self.failures.get(name, 0) > 0:
                self.failures[name] = self.failures.get(name, 0) - 1
                raise psycopg.OperationalError(DOWN)
            result = method(*args, **kwargs)
            if name in self.lost:
                self.lost.discard(name)
                raise psycopg.OperationalError(DOWN)
            return result

        call.__name__ = name
        return call

    def succeeded(self, name: str) -> bool:
        """Whether a call of `name` got through (its failures are over)."""
        return self.calls.get(name, 0) > self.failures.get(name, 0) >= 0 and not self.down


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """How many outages were logged, and how many recoveries."""
    records = [r for r in caplog.records if r.name == "polyrelay.tasks"]
    failed = [r for r in records if "retrying with a backoff" in r.getMessage()]
    assert all(r.exc_info and DOWN in str(r.exc_info[1]) for r in failed)
    return len(failed), sum("work again after" in r.getMessage() for r in records)


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def status(database: SqliteDatabase, task_id: str) -> TaskStatus | None:
    task = database.tasks.get(task_id)
    return None if task is None else task.status


async def ok(task: Task) -> Outcome:
    return Outcome(result=b'{"ok": true}')


def test_slots_outlive_failing_claims_and_log_the_outage_once(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "polyrelay.tasks")
    store = FlakyStore(database.tasks, claim=12, purge=3)
    settings = TasksSettings(workers=3, poll_seconds=0.05)

    async def scenario() -> None:
        worker = TaskWorker(store, settings, ok, time.time, delays=FAST)  # type: ignore[arg-type]
        await worker.start()
        try:
            await until(lambda: store.succeeded("claim") and store.succeeded("purge"))
            database.tasks.enqueue(new_task("task_after"))
            worker.wake()
            await until(lambda: status(database, "task_after") is TaskStatus.SUCCESS)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert outage_lines(caplog) == (1, 1)  # three slots and the purge: one outage


def run_to_success(database: SqliteDatabase, make_worker: Callable[[], TaskWorker]) -> None:
    """Enqueue task_1 and run the worker `make_worker` builds (in the event loop) until
    the task succeeds."""

    async def scenario() -> None:
        worker = make_worker()
        database.tasks.enqueue(new_task("task_1"))
        await worker.start()
        try:
            await until(lambda: status(database, "task_1") is TaskStatus.SUCCESS)
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_a_renewal_that_fails_once_keeps_the_run(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(database.tasks, renew=1)
    # A lease of seconds: a stall of the test machine must not cost it.
    settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=3.0)

    async def slow(task: Task) -> Outcome:
        # Renewed at 1 s (fails), again 10 ms later: the run ends once that got through.
        await until(lambda: store.succeeded("renew"))
        return Outcome(result=b'{"ok": true}')

    run_to_success(
        database,
        lambda: TaskWorker(store, settings, slow, time.time, delays=FAST),  # type: ignore[arg-type]
    )
    task = database.tasks.get("task_1")
    assert task is not None and task.attempts == 1
    assert outage_lines(caplog) == (1, 1)


def test_a_lease_that_cannot_be_renewed_stops_the_run_before_it_expires(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """Once its lease expires, another process may claim the task: the run stops before,
    the task is left `processing` (not lost) and runs again once the store is back. The
    run stopping is no sign that the database is back: no recovery is logged then."""
    caplog.set_level(logging.INFO, "polyrelay.tasks")
    store = FlakyStore(database.tasks)
    # Stopped at 1.6 s: 0.4 s before the lease expires, a margin a loaded machine keeps.
    settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=2.0)
    runs: list[tuple[float, float | None]] = []
    first_started = asyncio.Event()

    async def execute(task: Task) -> Outcome:
        runs.append((time.monotonic(), None))
        if len(runs) == 1:
            first_started.set()
            try:
                await asyncio.sleep(30)
            finally:
                runs[0] = (runs[0][0], time.monotonic())
        return Outcome(result=b'{"ok": true}')

    async def scenario() -> None:
        worker = TaskWorker(store, settings, execute, time.time, delays=FAST)  # type: ignore[arg-type]
        database.tasks.enqueue(new_task("task_1"))
        before_claim = time.monotonic()  # the lease expires after this plus its seconds
        await worker.start()
        try:
            await asyncio.wait_for(first_started.wait(), 5)
            store.down = True
            await until(lambda: runs[0][1] is not None)
            await asyncio.sleep(0.1)  # a claim or two fail after the run stopped
            # Stopped before the lease ran out, and left `processing` for a later claim.
            first_end = runs[0][1]
            assert first_end is not None and first_end < before_claim + settings.lease_seconds
            assert status(database, "task_1") is TaskStatus.PROCESSING
            assert outage_lines(caplog) == (1, 0)
            store.down = False
            await until(lambda: status(database, "task_1") is TaskStatus.SUCCESS)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    task = database.tasks.get("task_1")
    assert task is not None and task.attempts == 2
    first_end = runs[0][1]
    assert first_end is not None and runs[1][0] >= first_end  # never both at once
    assert outage_lines(caplog) == (1, 1)


def test_an_outcome_is_stored_through_failing_calls_once(database: SqliteDatabase) -> None:
    store = FlakyStore(database.tasks, complete=3)
    settings = TasksSettings(workers=1, poll_seconds=0.05)
    ends: list[str] = []

    async def on_end(task: Task, outcome: Outcome) -> None:
        ends.append(task.id)

    run_to_success(
        database,
        lambda: TaskWorker(store, settings, ok, time.time, on_end, delays=FAST),  # type: ignore[arg-type]
    )
    task = database.tasks.get("task_1")
    assert task is not None and task.attempts == 1  # not run again
    assert ends == ["task_1"]


def test_a_run_failing_on_the_store_is_retried_not_failed(database: SqliteDatabase) -> None:
    runs: list[str] = []

    async def execute(task: Task) -> Outcome:
        runs.append(task.id)
        if len(runs) == 1:  # e.g. setting a background response in_progress
            raise psycopg.OperationalError(DOWN)
        return Outcome(result=b'{"ok": true}')

    settings = TasksSettings(workers=1, poll_seconds=0.05, retry_base_seconds=0.01)
    run_to_success(
        database,
        lambda: TaskWorker(database.tasks, settings, execute, lambda: time.time() - 1, delays=FAST),
    )
    assert runs == ["task_1", "task_1"]


def test_a_stop_while_the_store_is_down_ends_the_worker(database: SqliteDatabase) -> None:
    """Handing a running task back at shutdown fails too; the stop still ends every loop."""
    store = FlakyStore(database.tasks)
    started = asyncio.Event()

    async def execute(task: Task) -> Outcome:
        started.set()
        await asyncio.sleep(30)
        return Outcome()

    async def scenario() -> None:
        settings = TasksSettings(workers=2, poll_seconds=0.05)
        worker = TaskWorker(store, settings, execute, time.time, delays=FAST)  # type: ignore[arg-type]
        database.tasks.enqueue(new_task("task_1"))
        await worker.start()
        await asyncio.wait_for(started.wait(), 5)
        store.down = True
        await asyncio.sleep(0.1)
        await asyncio.wait_for(worker.stop(), 5)

    asyncio.run(scenario())
    assert status(database, "task_1") is TaskStatus.PROCESSING  # claimed again later


class Fetcher:
    def __init__(self) -> None:
        self.posts: list[str] = []

    async def post(self, url: str, body: bytes, headers: Any) -> FetchResult:
        self.posts.append(url)
        return FetchResult(url=url, status=200, content_type="", body=b"")


def test_the_webhook_sender_outlives_failing_claims(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "polyrelay.tasks")
    store = FlakyStore(database.tasks, claim_delivery=8, delivery_done=2)
    settings = TasksSettings(workers=1, poll_seconds=0.05, webhook_secret="hunter2")
    fetcher = Fetcher()

    async def scenario() -> None:
        sender = WebhookSender(  # type: ignore[arg-type]
            store, fetcher, settings, "w_1", time.time, delays=FAST
        )
        worker = TaskWorker(database.tasks, settings, ok, time.time, delays=FAST)
        worker.ended.append(lambda _: sender.wake())
        await worker.start(sender.run)
        try:
            await until(lambda: store.succeeded("claim_delivery"))
            task = new_task("task_hook")
            database.tasks.enqueue(msgspec.structs.replace(task, callback_url=HOOK))
            worker.wake()
            await until(lambda: store.succeeded("delivery_done"))
            await asyncio.sleep(0.1)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert fetcher.posts == [HOOK]  # once: delivery_done was retried
    failed, recovered = outage_lines(caplog)  # one outage, or two if claims got through
    assert failed == recovered and 1 <= failed <= 2  # before delivery_done failed: not 10


def test_keep_running_does_not_swallow_a_cancellation() -> None:
    outage = background_loop.Outage(logging.getLogger("test"), "calls")

    async def step() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise OSError("the hand-back failed too") from None

    async def scenario() -> None:
        loop = asyncio.create_task(background_loop.keep_running(step, outage))
        await asyncio.sleep(0.05)
        loop.cancel()
        with pytest.raises(OSError, match="hand-back"):
            await asyncio.wait_for(loop, 2)

    asyncio.run(scenario())


def test_a_stop_after_a_run_ended_in_an_outage_is_bounded(database: SqliteDatabase) -> None:
    """A run ending while the store is down: its outcome gets one more try at shutdown,
    not retries for the lease's 30 s (the process would be killed before its last flush).
    The task stays `processing`: it runs again once its lease expires."""
    store = FlakyStore(database.tasks)

    async def execute(task: Task) -> Outcome:
        store.down = True  # the database goes away as the run ends
        return Outcome(result=b'{"ok": true}')

    async def scenario() -> float:
        settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=30.0)
        worker = TaskWorker(store, settings, execute, time.time)  # type: ignore[arg-type]
        database.tasks.enqueue(new_task("task_1"))
        await worker.start()
        await until(lambda: store.calls.get("complete", 0) >= 1)
        await asyncio.sleep(0.1)  # storing it waits in a backoff now
        began = time.monotonic()
        await asyncio.wait_for(worker.stop(), 10)
        return time.monotonic() - began

    assert asyncio.run(scenario()) < 3.0
    assert status(database, "task_1") is TaskStatus.PROCESSING


def test_a_lost_answer_of_a_stored_outcome_still_ends_the_task(database: SqliteDatabase) -> None:
    """The outcome was committed but the answer lost: its retry finds the task ended by
    this lease, and the end hooks still run (else a background response stays queued)."""
    store = FlakyStore(database.tasks)
    store.lost.add("complete")
    ends: list[str] = []

    async def on_end(task: Task, outcome: Outcome) -> None:
        ends.append(task.id)

    settings = TasksSettings(workers=1, poll_seconds=0.05)

    def make_worker() -> TaskWorker:
        worker = TaskWorker(store, settings, ok, time.time, on_end, delays=FAST)  # type: ignore[arg-type]
        worker.ended.append(ends.append)
        return worker

    run_to_success(database, make_worker)
    assert ends == ["task_1", "task_1"]  # on_end, then the ended callback


def test_a_failing_end_hook_is_logged_and_frees_the_slot(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in on_end is not an outage: logged at once, not retried for the lease's 30 s
    (holding the slot), and the ended callbacks still run."""
    ended: list[str] = []

    async def on_end(task: Task, outcome: Outcome) -> None:
        raise RuntimeError("a bug in on_end")

    async def scenario() -> None:
        settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=30.0)
        worker = TaskWorker(database.tasks, settings, ok, time.time, on_end, delays=FAST)
        worker.ended.append(ended.append)
        database.tasks.enqueue(new_task("task_1"))
        database.tasks.enqueue(new_task("task_2"))
        await worker.start()
        try:
            await until(lambda: ended == ["task_1", "task_2"], 5)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    logged = [r for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert len(logged) == 2 and all(r.exc_info for r in logged)


def test_keep_running_logs_a_bug_each_time_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A step failing with a bug is no outage: each failure is logged with its traceback
    (not once then silently forever), and the loop backs off (no spinning)."""
    outage = background_loop.Outage(logging.getLogger("test"), "calls", Delays(0.05, 0.05))
    calls: list[float] = []

    async def step() -> None:
        calls.append(time.monotonic())
        raise KeyError("a bug")

    async def scenario() -> None:
        loop = asyncio.create_task(background_loop.keep_running(step, outage))
        await until(lambda: len(calls) >= 3)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop

    asyncio.run(scenario())
    bugs = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(bugs) >= 2 and all(r.exc_info for r in bugs)
    assert not any("retrying with a backoff" in r.getMessage() for r in caplog.records)
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(calls))


def test_retry_until_raises_a_bug_at_once() -> None:
    outage = background_loop.Outage(logging.getLogger("test"), "calls", FAST)
    calls: list[int] = []

    async def call() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(background_loop.retry_until(time.monotonic() + 10, outage, call))
    assert calls == [1]


class BrokenFetcher(Fetcher):
    async def post(self, url: str, body: bytes, headers: Any) -> FetchResult:
        self.posts.append(url)
        raise RuntimeError("a bug in the fetcher")


def test_a_webhook_failing_with_a_bug_reaches_its_attempt_limit(
    database: SqliteDatabase,
) -> None:
    """A delivery whose POST raises something unexpected counts failed attempts and is
    given up after webhook_max_attempts, instead of being retried forever."""
    settings = TasksSettings(
        workers=1,
        poll_seconds=0.05,
        webhook_secret="hunter2",
        webhook_max_attempts=2,
        retry_base_seconds=0.01,
    )
    fetcher = BrokenFetcher()
    store = FlakyStore(database.tasks)

    async def scenario() -> None:
        sender = WebhookSender(  # type: ignore[arg-type]
            store, fetcher, settings, "w_1", time.time, delays=FAST
        )
        worker = TaskWorker(database.tasks, settings, ok, time.time, delays=FAST)
        worker.ended.append(lambda _: sender.wake())
        await worker.start(sender.run)
        try:
            task = new_task("task_hook")
            database.tasks.enqueue(msgspec.structs.replace(task, callback_url=HOOK))
            worker.wake()
            await until(lambda: store.calls.get("delivery_done", 0) >= 1)
            await asyncio.sleep(0.2)  # and no further attempt
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert fetcher.posts == [HOOK, HOOK]
    assert store.calls.get("delivery_retry") == 1
