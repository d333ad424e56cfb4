"""A gateway on PostgreSQL whose connection is lost while it submits a background response
(after the response's INSERT, at the task's) refuses the client with a 503 and keeps
nothing of the submission: no `queued` response that no task would ever run, no events.
The next submission, on a new connection, is stored and run to its end by the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.backends import execute, query
from tests.integration.conftest import Emulator
from tests.integration.servers import stop
from tests.integration.tasks_support import TasksGateway, openai_client
from tests.postgres_server import LOSE_CONNECTION, PostgresServer

TABLES = ("responses", "response_events", "tasks")


@pytest.fixture
def schema_url(running_postgres: PostgresServer) -> str:
    return running_postgres.fresh_schema_url()


@pytest.fixture
def gateway(
    schema_url: str, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TasksGateway]:
    gateway = TasksGateway(tmp_path_factory.mktemp("submission"), emulator.url, schema_url)
    gateway.start()
    yield gateway
    assert gateway.proc is not None
    stop(gateway.proc)


def counts(url: str) -> dict[str, int]:
    return {table: query(url, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def submit(gateway: TasksGateway, stream: bool) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "input": "hello", "background": True, "stream": stream}
    return httpx.post(f"{gateway.url}/v1/responses", headers=gateway.headers(), json=body)


def test_a_connection_lost_at_the_task_leaves_nothing_and_the_next_submission_runs(
    gateway: TasksGateway, schema_url: str
) -> None:
    execute(schema_url, LOSE_CONNECTION)
    execute(
        schema_url,
        "CREATE TRIGGER lose_connection BEFORE INSERT ON tasks"
        " FOR EACH ROW EXECUTE FUNCTION lose_connection()",
    )
    for stream in (False, True):
        answer = submit(gateway, stream)
        assert answer.status_code == 503, answer.text
    assert counts(schema_url) == dict.fromkeys(TABLES, 0)

    execute(schema_url, "DROP TRIGGER lose_connection ON tasks")
    answer = submit(gateway, stream=False)
    assert answer.status_code == 200, answer.text
    response_id = answer.json()["id"]
    deadline = time.monotonic() + 30
    while (status := openai_client(gateway).responses.retrieve(response_id).status) != "completed":
        assert status in ("queued", "in_progress"), status
        assert time.monotonic() < deadline, f"still {status}"
        time.sleep(0.1)
