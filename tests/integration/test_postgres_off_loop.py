"""On PostgreSQL, a store call that waits (a round trip, a row lock another replica holds,
a writer thread's transaction) must not stop the gateway's other requests: the event loop
makes its store calls in greenlets, each on an async connection of its own, and each
thread has its own connection.

Each test holds a table lock on a connection of its own, as another replica's transaction
would, sees the gateway's call wait on it, and checks that other requests are answered
meanwhile; then it lets go and checks that the waiting request ends well too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import openai
import psycopg
import pytest

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import RPM_KEY, STATIC_KEY
from tests.integration.tasks_support import TASKS_CONFIG
from tests.postgres_server import PostgresServer

HELLO: Any = [{"role": "user", "content": "hello"}]
_PROMPTLY = 10.0
"""Seconds within which an unhindered request must be answered (a loaded CI machine)."""


class Deployment:
    def __init__(self, gateway: Gateway, database_url: str) -> None:
        self.gateway = gateway
        self.database_url = database_url

    def client(self, key: str = STATIC_KEY, timeout: float = _PROMPTLY) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.gateway.url + "/v1", api_key=key, max_retries=0, timeout=timeout
        )

    def chat(self, key: str = STATIC_KEY, timeout: float = _PROMPTLY) -> str:
        reply = self.client(key, timeout).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )
        return reply.choices[0].message.content or ""

    def locked(self, table: str, mode: str = "EXCLUSIVE") -> psycopg.Connection[Any]:
        """A connection in a transaction that holds `table` in `mode`: EXCLUSIVE keeps
        writers out (readers pass), ACCESS EXCLUSIVE keeps everyone out."""
        conn = psycopg.connect(self.database_url)
        conn.execute(f"LOCK TABLE {table} IN {mode} MODE")
        return conn

    def wait_until_stored(self, *response_ids: str) -> None:
        deadline = time.monotonic() + _PROMPTLY
        while True:
            with psycopg.connect(self.database_url) as conn:
                stored = conn.execute(
                    "SELECT id FROM responses WHERE id = ANY(%s)", (list(response_ids),)
                ).fetchall()
            if len(stored) == len(response_ids):
                return
            assert time.monotonic() < deadline, "the writer did not commit the responses"
            time.sleep(0.05)

    def wait_until_blocked(self, table: str, holder: psycopg.Connection[Any]) -> None:
        """Until a gateway connection waits for the lock `holder` holds on `table`."""
        deadline = time.monotonic() + _PROMPTLY
        while True:
            rows = holder.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE NOT l.granted AND c.relname = %s AND l.pid != pg_backend_pid()",
                (table,),
            ).fetchone()
            if rows is not None and rows[0] > 0:
                return
            assert time.monotonic() < deadline, f"no gateway call waited for {table}"
            time.sleep(0.05)


@pytest.fixture
def deployment(
    emulator: Emulator, running_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    url = running_postgres.fresh_schema_url()
    workdir = tmp_path_factory.mktemp("off-loop")
    # Task workers that poll every 0.2 s.
    for gateway in serving(workdir, emulator, extra=TASKS_CONFIG, database=url):
        yield Deployment(gateway, url)


def test_a_request_waiting_for_a_row_lock_does_not_hold_up_the_others(
    deployment: Deployment,
) -> None:
    # The first request of the rate-limited key counts it in key_minutes: it waits there.
    holder = deployment.locked("key_minutes")
    with ThreadPoolExecutor(1) as pool:
        try:
            waiting: Future[str] = pool.submit(deployment.chat, RPM_KEY, 60)
            deployment.wait_until_blocked("key_minutes", holder)
            started = time.monotonic()
            assert deployment.chat(STATIC_KEY) != ""
            assert time.monotonic() - started < _PROMPTLY
            assert not waiting.done()
        finally:
            holder.commit()
            holder.close()
        assert waiting.result(timeout=_PROMPTLY) != ""


def test_a_writer_waiting_for_a_lock_does_not_hold_up_the_event_loops_calls(
    deployment: Deployment,
) -> None:
    client = deployment.client()
    holder = deployment.locked("responses")
    try:
        # Stored by the responses writer thread, whose INSERT now waits for the lock.
        first = client.responses.create(model="gpt-4o-mini", input="hello")
        deployment.wait_until_blocked("responses", holder)
        # Counting a limited key's request is a write on another table, on the event
        # loop's behalf; with one shared connection it waited for the writer's transaction.
        assert deployment.chat(RPM_KEY) != ""
        # The parked response is readable and chainable at once, from this process.
        assert client.responses.retrieve(first.id).status == "completed"
        second = client.responses.create(
            model="gpt-4o-mini", input="and then?", previous_response_id=first.id
        )
        assert second.previous_response_id == first.id
    finally:
        holder.commit()
        holder.close()
    deployment.wait_until_stored(first.id, second.id)


def test_a_chained_response_whose_history_read_waits_does_not_hold_up_the_others(
    deployment: Deployment,
) -> None:
    client = deployment.client()
    first = client.responses.create(model="gpt-4o-mini", input="hello")
    deployment.wait_until_stored(first.id)  # committed: the chain is read from the table
    holder = deployment.locked("responses", "ACCESS EXCLUSIVE")
    with ThreadPoolExecutor(1) as pool:
        try:
            chained = pool.submit(
                deployment.client(timeout=60).responses.create,
                model="gpt-4o-mini",
                input="and then?",
                previous_response_id=first.id,
            )
            deployment.wait_until_blocked("responses", holder)
            assert deployment.chat(STATIC_KEY) != ""
            assert not chained.done()
        finally:
            holder.commit()
            holder.close()
        assert chained.result(timeout=_PROMPTLY).previous_response_id == first.id


def test_task_workers_waiting_for_a_lock_do_not_hold_up_requests(deployment: Deployment) -> None:
    holder = deployment.locked("tasks", "ACCESS EXCLUSIVE")
    try:
        deployment.wait_until_blocked("tasks", holder)  # the workers' next claim
        assert deployment.chat(STATIC_KEY) != ""
    finally:
        holder.commit()
        holder.close()
    # The workers go on once the lock is gone: an async task runs to its end.
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    body = {"model": "gpt-4o-mini", "messages": HELLO, "async": True}
    url = deployment.gateway.url
    submitted = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
    assert submitted.status_code == 202, submitted.text
    task = httpx.get(
        f"{url}/v1/tasks/{submitted.json()['id']}",
        params={"wait": "10"},
        headers=headers,
        timeout=30,
    ).json()
    assert task["status"] == "success", task
