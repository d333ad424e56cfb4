"""A background response's submission (`POST /v1/responses` with `background: true`) is
all or nothing, on both backends: its `queued` Response, its first two events (with
`stream: true`) and its task are committed in one transaction. A database lost after the
response was committed but before the task was used to refuse the client with a 503 and
keep a `queued` response, and its events, that no task would ever run."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient
from tests.backends import execute, is_postgres, query
from tests.postgres_server import LOSE_CONNECTION
from tests.unit.sqlite_errors import locked_sqlite_error

from polyrelay.app import Deps, create_app
from polyrelay.settings import embedded_settings
from polyrelay.storage import ApiKey, StoredResponse, open_database
from polyrelay.storage.database import SqlDatabase
from polyrelay.storage.sqlite_bulk import SqliteConnection
from polyrelay.storage.unreachable import database_unreachable
from polyrelay.tasks.background import set_status
from polyrelay.tasks.background_stream import submitted_events
from polyrelay.tasks.model import NewTask, TaskKind, TaskStatus

KEY = ApiKey(id="key_a", name="a", prefix="", created_at=0)
RESP = "resp_1"
TABLES = ("responses", "response_events", "tasks")


@pytest.fixture
def database(database_url: str) -> Iterator[SqlDatabase]:
    database = open_database(database_url, clock=lambda: 1_700_000_000.0)
    assert isinstance(database, SqlDatabase)
    yield database
    database.close()


@pytest.fixture
def lose_task_inserts(database: SqlDatabase, database_url: str, monkeypatch: Any) -> None:
    """Every INSERT into `tasks` meets a database out of reach: on PostgreSQL the server
    drops the connection under it, on SQLite another process holds the write lock."""
    if is_postgres(database_url):
        execute(database_url, LOSE_CONNECTION)
        execute(
            database_url,
            "CREATE TRIGGER lose_connection BEFORE INSERT ON tasks"
            " FOR EACH ROW EXECUTE FUNCTION lose_connection()",
        )
        return
    executemany = SqliteConnection.executemany

    def locked(self: SqliteConnection, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        if sql.lstrip().startswith("INSERT INTO tasks"):
            raise locked_sqlite_error()
        return executemany(self, sql, parameters)

    monkeypatch.setattr(SqliteConnection, "executemany", locked)


def counts(url: str) -> dict[str, int]:
    """Each table's rows, read as another process would: what is committed."""
    return {table: query(url, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def queued() -> StoredResponse:
    shell = {"id": RESP, "object": "response", "status": "queued", "background": True}
    return StoredResponse(id=RESP, key_id=KEY.id, created_at=0, status="queued", response=shell)


def new_task() -> NewTask:
    return NewTask(
        id=RESP, kind=TaskKind.RESPONSE, key=KEY, endpoint="/v1/responses",
        request_id="req_1", model="m", body=b'{"input": "hi"}', headers={},
        callback_url=None, created_at=0,
    )  # fmt: skip


def test_a_submission_commits_the_response_its_events_and_its_task_for_the_worker(
    database: SqlDatabase, database_url: str
) -> None:
    record = queued()
    database.submit_background(record, submitted_events(record.response), new_task())
    assert counts(database_url) == {"responses": 1, "response_events": 2, "tasks": 1}
    # The worker, in whichever process, claims the task and finds its response.
    task = database.tasks.claim("worker_1", 30)
    assert task is not None and task.id == RESP and task.status is TaskStatus.PROCESSING
    set_status(database.responses, task, "in_progress")
    stored = database.responses.get(RESP, KEY.id)
    assert stored is not None and stored.status == "in_progress"
    assert stored.response["background"] is True


@pytest.mark.usefixtures("lose_task_inserts")
def test_a_task_the_database_refuses_takes_its_response_and_events_back(
    database: SqlDatabase, database_url: str
) -> None:
    record = queued()
    with pytest.raises(Exception) as refused:
        database.submit_background(record, submitted_events(record.response), new_task())
    assert database_unreachable(refused.value)
    assert counts(database_url) == dict.fromkeys(TABLES, 0)
    assert database.responses.get(RESP, KEY.id) is None


@pytest.mark.usefixtures("lose_task_inserts")
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_background_request_refused_in_an_outage_leaves_no_queued_response(
    database: SqlDatabase, database_url: str, stream: bool
) -> None:
    settings = msgspec.structs.replace(embedded_settings({}), database=database_url)
    _, secret = database.keys.create("k", None)
    client = TestClient(create_app(settings, Deps(database)))
    body = {"model": "gpt-4o-mini", "input": "hi", "background": True, "stream": stream}
    answer = client.post("/v1/responses", json=body, headers={"authorization": f"Bearer {secret}"})
    assert answer.status_code == 503, answer.text  # the client is told to try again
    assert counts(database_url) == dict.fromkeys(TABLES, 0)
