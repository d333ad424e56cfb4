"""Two gateway replicas reaching PostgreSQL through PgBouncer, without Redis, in both of
its pooling modes: session pooling, and transaction pooling with `database_pool_mode:
transaction` in the config. PgBouncer serves the database under a name the server itself
does not have, so every success here went through it.

What has to hold through the pooler: the migration's lock (both replicas start at once),
signals (through LISTEN/NOTIFY in session pooling; under transaction pooling there is no
session to LISTEN on, so the replicas poll), statements run many times (psycopg prepares
one on the server after its fifth run, unless told not to, as it must be when pooled per
transaction), the async connections of the event loop's store calls and the writer
threads' connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from polyrelay.auth import KEY_CACHE_SECONDS
from tests.backends import query
from tests.integration.conftest import Emulator
from tests.integration.tasks_support import (
    GatewayPair,
    TasksGateway,
    openai_client as gpt,
    running_pair,
)
from tests.pgbouncer_server import PgBouncer, start_pgbouncer
from tests.postgres_server import PostgresServer

HELLO: Any = [{"role": "user", "content": "hello"}]


class Pooled(GatewayPair):
    def __init__(self, bouncer: PgBouncer, gateways: tuple[TasksGateway, TasksGateway]) -> None:
        super().__init__(*gateways)
        self.bouncer = bouncer


@pytest.fixture(scope="module", params=["session", "transaction"])
def bouncer(
    request: pytest.FixtureRequest, running_postgres: PostgresServer
) -> Iterator[PgBouncer]:
    yield from start_pgbouncer(running_postgres, request.param)


@pytest.fixture(scope="module")
def pooled(
    bouncer: PgBouncer, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pooled]:
    """The second replica's migration waits on the first one's lock, through PgBouncer."""
    extra = f"database_pool_mode: {bouncer.pool_mode}\n"
    for gateways in running_pair(tmp_path_factory, emulator.url, bouncer.url, extra):
        yield Pooled(bouncer, gateways)


def test_both_replicas_started_through_pgbouncer(pooled: Pooled) -> None:
    port = pooled.bouncer.url.split(":")[-1].split("/")[0]
    signals = {
        "session": "PostgreSQL LISTEN/NOTIFY",
        "transaction": "none (they poll; set redis for signals)",
    }[pooled.bouncer.pool_mode]
    for gateway in (pooled.one, pooled.other):
        logged = "".join(log.read_text() for log in gateway.workdir.glob("gateway-*.log"))
        assert f"  database: PostgreSQL 127.0.0.1:{port}/polyrelay\n" in logged, logged
        assert f"  signals between processes: {signals}\n" in logged
    # The migrations ran once, on the server's own database.
    tables = query(
        pooled.bouncer.database_url,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'responses'",
    )
    assert tables == [(1,)]


def test_a_revocation_reaches_both_replicas(pooled: Pooled) -> None:
    """At once through NOTIFY in session pooling; once the replicas' cached lookups
    expire (5 s) under transaction pooling, where nothing can LISTEN."""
    key_id, secret = pooled.new_key("pooled")
    for gateway in (pooled.one, pooled.other):
        reply = gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert reply.choices[0].message.content == "You said: hello"
    pooled.cli("keys", "revoke", key_id)
    time.sleep(0.3 if pooled.bouncer.pool_mode == "session" else KEY_CACHE_SECONDS + 0.5)
    for gateway in (pooled.one, pooled.other):
        with pytest.raises(openai.AuthenticationError):
            gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)


def test_a_long_chain_of_stored_responses_across_replicas(pooled: Pooled) -> None:
    """Twelve turns, alternating replicas: each store statement runs well past the five
    runs after which psycopg prepares it on its connection."""
    previous: str | None = None
    for turn in range(12):
        gateway = pooled.one if turn % 2 == 0 else pooled.other
        reply = gpt(gateway).responses.create(
            model="gpt-4o-mini", input=f"turn {turn}", previous_response_id=previous
        )
        assert reply.output_text == f"You said: turn {turn}"
        previous = reply.id
    assert previous is not None
    fetched = gpt(pooled.one).responses.retrieve(previous)
    assert fetched.previous_response_id is not None
    texts = [
        item.content[0].text  # type: ignore[union-attr]
        for item in gpt(pooled.other).responses.input_items.list(previous).data
    ]
    assert texts == ["turn 11"]


def test_a_key_limit_counts_across_replicas(pooled: Pooled) -> None:
    _, secret = pooled.new_key("pooled", "--rpm", "3")
    answered = 0
    for gateway in (pooled.one, pooled.other, pooled.one):
        gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        answered += 1
    with pytest.raises(openai.RateLimitError):
        gpt(pooled.other, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answered == 3


def test_a_background_response_runs_and_is_read_on_the_other_replica(pooled: Pooled) -> None:
    queued = gpt(pooled.one).responses.create(
        model="gpt-5-mini", input="[[delay 200]] later", background=True
    )
    assert queued.status in ("queued", "in_progress")
    deadline = time.monotonic() + 30
    while (done := gpt(pooled.other).responses.retrieve(queued.id)).status != "completed":
        assert done.status in ("queued", "in_progress"), done
        assert time.monotonic() < deadline, done
        time.sleep(0.1)
    assert done.output_text == "You said: later"
    sql = "SELECT status, attempts FROM tasks WHERE id = ?"
    assert query(pooled.bouncer.database_url, sql, (queued.id,)) == [("success", 1)]
