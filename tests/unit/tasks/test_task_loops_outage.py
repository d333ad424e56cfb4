"""The task machinery's loops outlive store calls that fail (a PostgreSQL or PgBouncer
restart): each failure is retried with a backoff, the outage is logged once and its end
once, and a task claimed during it is neither lost nor run twice at the same time."""

from __future__ import annotations

import asyncio
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


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background_loop, "FIRST_DELAY", 0.01)
    monkeypatch.setattr(background_loop, "MAX_DELAY", 0.04)


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

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.down or self.failures.get(name, 0) > 0:
                self.failures[name] = self.failures.get(name, 0) - 1
                raise psycopg.OperationalError(DOWN)
            return method(*args, **kwargs)

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
        worker = TaskWorker(store, settings, ok, time.time)  # type: ignore[arg-type]
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
    settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=0.6)

    async def slow(task: Task) -> Outcome:
        await asyncio.sleep(0.8)  # renewed at 0.2 s (fails), again at once, 0.4, 0.6
        return Outcome(result=b'{"ok": true}')

    run_to_success(
        database,
        lambda: TaskWorker(store, settings, slow, time.time),  # type: ignore[arg-type]
    )
    task = database.tasks.get("task_1")
    assert task is not None and task.attempts == 1
    assert outage_lines(caplog) == (1, 1)


def test_a_lease_that_cannot_be_renewed_stops_the_run_before_it_expires(
    database: SqliteDatabase,
) -> None:
    """Once its lease expires, another process may claim the task: the run stops before,
    the task is left `processing` (not lost) and runs again once the store is back."""
    store = FlakyStore(database.tasks)
    settings = TasksSettings(workers=1, poll_seconds=0.05, lease_seconds=0.5)
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
        worker = TaskWorker(store, settings, execute, time.time)  # type: ignore[arg-type]
        database.tasks.enqueue(new_task("task_1"))
        await worker.start()
        try:
            await asyncio.wait_for(first_started.wait(), 5)
            claimed = time.time()
            store.down = True
            await until(lambda: runs[0][1] is not None)
            # Stopped before the lease ran out, and left `processing` for a later claim.
            assert time.time() < claimed + settings.lease_seconds
            assert status(database, "task_1") is TaskStatus.PROCESSING
            store.down = False
            await until(lambda: status(database, "task_1") is TaskStatus.SUCCESS)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    task = database.tasks.get("task_1")
    assert task is not None and task.attempts == 2
    first_end = runs[0][1]
    assert first_end is not None and runs[1][0] >= first_end  # never both at once


def test_an_outcome_is_stored_through_failing_calls_once(database: SqliteDatabase) -> None:
    store = FlakyStore(database.tasks, complete=3)
    settings = TasksSettings(workers=1, poll_seconds=0.05)
    ends: list[str] = []

    async def on_end(task: Task, outcome: Outcome) -> None:
        ends.append(task.id)

    run_to_success(
        database,
        lambda: TaskWorker(store, settings, ok, time.time, on_end),  # type: ignore[arg-type]
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
        database, lambda: TaskWorker(database.tasks, settings, execute, lambda: time.time() - 1)
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
        worker = TaskWorker(store, settings, execute, time.time)  # type: ignore[arg-type]
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
        sender = WebhookSender(store, fetcher, settings, "w_1", time.time)  # type: ignore[arg-type]
        worker = TaskWorker(database.tasks, settings, ok, time.time)
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
