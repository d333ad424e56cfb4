"""The task worker survives a run that raises: the task ends failed and the slot goes on
to the next task. A stop while it stores a run's outcome does not lose the outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from polyrelay.storage import ApiKey
from polyrelay.storage.sqlite import SqliteDatabase
from polyrelay.tasks import worker as worker_module
from polyrelay.tasks.model import NewTask, Task, TaskKind, TaskStatus
from polyrelay.tasks.runner import Outcome
from polyrelay.tasks.settings import TasksSettings
from polyrelay.tasks.worker import TaskWorker

KEY = ApiKey(id="static:ci", name="ci", prefix="", created_at=0)


def new_task(task_id: str) -> NewTask:
    return NewTask(
        id=task_id, kind=TaskKind.TASK, key=KEY, endpoint="/v1/messages",
        request_id="req_" + task_id, model="m", body=b"{}", headers={}, callback_url=None,
        created_at=0,
    )  # fmt: skip


def test_a_run_that_raises_fails_its_task_and_the_slot_goes_on(tmp_path: Path) -> None:
    database = SqliteDatabase.open(str(tmp_path / "tasks.db"), clock=time.time)

    async def execute(task: Task) -> Outcome:
        if task.id == "task_bad":
            raise RuntimeError("a bug in the run")
        return Outcome(result=b'{"ok": true}')

    async def scenario() -> None:
        settings = TasksSettings(workers=1, poll_seconds=0.05)
        worker = TaskWorker(database.tasks, settings, execute, time.time)
        database.tasks.enqueue(new_task("task_bad"))
        database.tasks.enqueue(new_task("task_good"))
        await worker.start()
        try:
            for _ in range(100):
                good = database.tasks.get("task_good")
                if good is not None and good.status is TaskStatus.SUCCESS:
                    break
                await asyncio.sleep(0.02)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    bad, good = database.tasks.get("task_bad"), database.tasks.get("task_good")
    assert bad is not None and bad.status is TaskStatus.FAILED
    assert bad.error is not None and bad.error.status == 500
    assert good is not None and good.status is TaskStatus.SUCCESS  # the one slot went on
    database.close()


def test_a_worker_stopped_while_it_stores_a_runs_end_still_stores_it(tmp_path: Path) -> None:
    """Storing an outcome is a round trip on PostgreSQL; a stop then must not lose the
    outcome, or the task would run again elsewhere once its lease expired."""
    database = SqliteDatabase.open(str(tmp_path / "tasks.db"), clock=time.time)
    storing = asyncio.Event()

    async def slow_call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "complete":
            storing.set()
            await asyncio.sleep(0.3)  # a slow round trip, during which the worker stops
        return fn(*args, **kwargs)

    async def execute(task: Task) -> Outcome:
        return Outcome(result=b'{"ok": true}')

    async def scenario() -> None:
        settings = TasksSettings(workers=1, poll_seconds=0.05)
        worker = TaskWorker(database.tasks, settings, execute, time.time, call=slow_call)
        database.tasks.enqueue(new_task("task_1"))
        await worker.start()
        await asyncio.wait_for(storing.wait(), 10)
        await worker.stop()

    asyncio.run(scenario())
    task = database.tasks.get("task_1")
    assert task is not None and task.status is TaskStatus.SUCCESS
    database.close()


def test_the_purge_deletes_finished_tasks_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200,000 finished tasks expiring at once were one write transaction, holding the
    database's write lock throughout; the purge goes a chunk a call until one comes short."""
    monkeypatch.setattr(worker_module, "PURGE_CHUNK", 2)
    now = [1000.0]
    database = SqliteDatabase.open(str(tmp_path / "tasks.db"), clock=lambda: now[0])
    for n in range(5):
        database.tasks.enqueue(new_task(f"task_{n}"))
        assert database.tasks.cancel(f"task_{n}")
    now[0] = 1100.0
    database.tasks.enqueue(new_task("task_late"))
    assert database.tasks.cancel("task_late")
    chunks: list[int] = []

    async def call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if getattr(fn, "__name__", "") == "purge":
            chunks.append(result)
        return result

    async def never(task: Task) -> Outcome:
        raise AssertionError("no task is pending")

    async def scenario() -> None:
        settings = TasksSettings(workers=1, poll_seconds=0.05, retention_seconds=60)
        worker = TaskWorker(database.tasks, settings, never, lambda: 1130.0, call=call)
        await worker.start()
        try:
            for _ in range(100):
                if len(chunks) >= 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # no call after the short chunk
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert chunks == [2, 2, 1]
    assert [database.tasks.get(f"task_{n}") for n in range(5)] == [None] * 5
    assert database.tasks.get("task_late") is not None  # ended after the cutoff (1070)
    database.close()
