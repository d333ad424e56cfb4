"""A webhook delivery given up keeps the error of its last attempt as the reason."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.unit.tasks.test_task_worker import new_task

from polyrelay.fetch.client import FetchResult
from polyrelay.storage.sqlite import SqliteDatabase
from polyrelay.tasks.settings import TasksSettings
from polyrelay.tasks.webhooks import WebhookSender

HOOK = "http://hook.test/x"
LAST_ERROR = "SELECT status, attempts, last_error FROM task_webhooks"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tasks.db"


@pytest.fixture
def database(path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase.open(str(path), clock=time.time)
    yield database
    database.close()


class Answers:
    """A fetcher that answers each POST with the next of `statuses`."""

    def __init__(self, *statuses: int) -> None:
        self._statuses = iter(statuses)

    async def post(self, url: str, body: bytes, headers: Any) -> FetchResult:
        return FetchResult(url=url, status=next(self._statuses), content_type="", body=b"")


def test_a_delivery_given_up_keeps_its_last_attempts_error(
    database: SqliteDatabase, path: Path
) -> None:
    store = database.tasks
    store.enqueue(msgspec.structs.replace(new_task("task_hook"), callback_url=HOOK))
    assert store.cancel("task_hook")  # the task ends: its delivery is queued
    settings = TasksSettings(webhook_max_attempts=2, retry_base_seconds=0.01, webhook_secret="s")
    sender = WebhookSender(store, Answers(500, 503), settings, "w_1", time.time)  # type: ignore[arg-type]

    async def attempts() -> None:
        for _ in range(2):
            while (delivery := store.claim_delivery("w_1", 60)) is None:
                await asyncio.sleep(0.01)  # its retry is not due yet
            await sender.send(delivery)

    asyncio.run(attempts())
    with sqlite3.connect(path) as conn:
        row = conn.execute(LAST_ERROR).fetchone()
    assert row == ("failed", 2, "HTTP 503")  # not the first attempt's HTTP 500
