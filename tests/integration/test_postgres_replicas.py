"""Two gateway replicas on one PostgreSQL database, as a scaled-out deployment runs them:
everything a client made on one replica is there on the other (keys, stored responses,
background streams, tasks, batches, limits, usage), and a task whose replica dies is
finished by the other, exactly once."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import openai
import psycopg
import pytest

from tests.backends import query
from tests.integration.conftest import Emulator
from tests.integration.servers import RPM_KEY, STATIC_KEY
from tests.integration.tasks_support import (
    GatewayPair,
    TasksGateway,
    openai_client as gpt,
    running_pair,
    submit_slow,
)
from tests.postgres_server import PostgresServer

HELLO: Any = [{"role": "user", "content": "hello"}]


class Replicas(GatewayPair):
    def __init__(self, url: str, gateways: tuple[TasksGateway, TasksGateway], redis: bool) -> None:
        super().__init__(*gateways)
        self.database_url = url
        self.redis = redis
        """Whether they share a Redis for signals."""


@pytest.fixture(scope="module", params=["postgresql", "postgresql+redis"])
def replicas(
    request: pytest.FixtureRequest,
    emulator: Emulator,
    running_postgres: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    """Two replicas on a fresh PostgreSQL schema; signalling through PostgreSQL's
    LISTEN/NOTIFY in the first deployment, through Redis in the second (every test here
    runs on both)."""
    url = running_postgres.fresh_schema_url()
    redis_url = ""
    if request.param.endswith("+redis"):
        redis_url = request.getfixturevalue("running_redis").url
    extra = f"redis: {redis_url}\n" if redis_url else ""
    for gateways in running_pair(tmp_path_factory, emulator.url, url, extra):
        yield Replicas(url, gateways, bool(redis_url))


def claude(gateway: TasksGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)


def test_the_banner_names_the_database_and_redis_without_secrets(replicas: Replicas) -> None:
    logged = "".join(log.read_text() for log in replicas.one.workdir.glob("gateway-*.log"))
    assert re.search(r"  database: PostgreSQL 127\.0\.0\.1:\d+/postgres\n", logged), logged
    assert ("  redis: redis://127.0.0.1:" in logged) is replicas.redis
    # Without Redis, the replicas signal each other through PostgreSQL.
    notify = "  signals between processes: PostgreSQL LISTEN/NOTIFY"
    assert (notify in logged) is not replicas.redis


def test_a_key_made_by_the_cli_works_on_both_and_its_revocation_reaches_both(
    replicas: Replicas,
) -> None:
    key_id, secret = replicas.new_key("shared")
    for gateway in (replicas.one, replicas.other):
        reply = gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert reply.choices[0].message.content == "You said: hello"
    replicas.cli("keys", "revoke", key_id)
    # The CLI's signal (Redis, or PostgreSQL's NOTIFY) drops the cached key in both at
    # once, well within the 5 s a cached lookup lasts.
    time.sleep(0.3)
    for gateway in (replicas.one, replicas.other):
        with pytest.raises(openai.AuthenticationError):
            gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5"])
def test_a_stored_response_chains_on_the_other_replica_at_once(
    replicas: Replicas, model: str
) -> None:
    word = uuid.uuid4().hex[:8]
    first = gpt(replicas.one).responses.create(model=model, input=f"remember {word}")
    second = gpt(replicas.other).responses.create(
        model=model, input="what was it?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    sent = gpt(replicas.other).responses.input_items.list(second.id)
    assert [item.content[0].text for item in sent.data] == ["what was it?"]  # type: ignore[union-attr]
    fetched = gpt(replicas.one).responses.retrieve(second.id)
    assert fetched.output_text == second.output_text
    gpt(replicas.one).responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        gpt(replicas.other).responses.retrieve(first.id)


def test_a_background_stream_is_followed_from_the_other_replica(replicas: Replicas) -> None:
    """The client leaves the replica that runs the response after its first event and
    follows the rest from the other one."""
    with gpt(replicas.one).responses.create(
        model="gpt-5-mini", input="[[delay 300]] count with me", background=True, stream=True
    ) as stream:
        first = next(iter(stream))
    assert first.type == "response.created"
    response_id = first.response.id
    events = list(
        gpt(replicas.other).responses.retrieve(
            response_id, stream=True, starting_after=first.sequence_number
        )
    )
    assert events[-1].type == "response.completed"
    numbers = [event.sequence_number for event in events]
    assert numbers == list(
        range(first.sequence_number + 1, first.sequence_number + 1 + len(events))
    )
    done = gpt(replicas.one).responses.retrieve(response_id)
    assert done.status == "completed" and done.output_text == "You said: count with me"


def recorded(replicas: Replicas, response_id: str) -> int:
    rows = query(
        replicas.database_url,
        "SELECT COUNT(*) FROM response_events WHERE response_id = ?",
        (response_id,),
    )
    return int(rows[0][0])


def test_a_cancel_stops_the_run_on_the_other_replica(replicas: Replicas) -> None:
    """The cancel reaches the replica that does not run the response: its signal stops
    the run at once."""
    with gpt(replicas.one).responses.create(
        model="gpt-5-mini", input="[[words 6000]] go", background=True, stream=True
    ) as stream:
        response_id = next(iter(stream)).response.id
    deadline = time.monotonic() + 10
    while recorded(replicas, response_id) < 20:
        assert time.monotonic() < deadline, "the run records no events"
        time.sleep(0.05)
    (owner,) = query(
        replicas.database_url, "SELECT lease_owner FROM tasks WHERE id = ?", (response_id,)
    )[0]
    running_on_one = owner in replicas.one.worker_ids()
    assert running_on_one or owner in replicas.other.worker_ids()
    elsewhere = replicas.other if running_on_one else replicas.one
    assert gpt(elsewhere).responses.cancel(response_id).status == "cancelled"
    time.sleep(0.3)
    settled = recorded(replicas, response_id)
    time.sleep(1.5)
    assert recorded(replicas, response_id) == settled, "the cancelled run still records events"


def test_a_batch_made_on_one_replica_is_read_on_the_other(
    replicas: Replicas,
) -> None:
    requests: Any = [
        {
            "custom_id": f"r{n}",
            "params": {"model": "gpt-4o-mini", "max_tokens": 20, "messages": HELLO},
        }
        for n in range(3)
    ]
    batch = claude(replicas.one).messages.batches.create(requests=requests)
    deadline = time.monotonic() + 30
    while (seen := claude(replicas.other).messages.batches.retrieve(batch.id)).ended_at is None:
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    assert seen.request_counts.succeeded == 3
    other = claude(replicas.other)  # held: the results stream reads through its connection
    results = list(other.messages.batches.results(batch.id))
    assert [result.custom_id for result in results] == ["r0", "r1", "r2"]
    listed = [b.id for b in claude(replicas.other).messages.batches.list(limit=20)]
    assert batch.id in listed


def test_a_per_minute_limit_counts_the_requests_of_both(replicas: Replicas) -> None:
    if 60 - time.time() % 60 < 8:  # the count starts again at each clock minute
        time.sleep(60 - time.time() % 60 + 0.1)
    for gateway in (replicas.one, replicas.other):
        gpt(gateway, RPM_KEY).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.RateLimitError):
        gpt(replicas.one, RPM_KEY).chat.completions.create(model="gpt-4o-mini", messages=HELLO)


def test_usage_of_both_replicas_is_in_one_database(replicas: Replicas) -> None:
    key_id, secret = replicas.new_key("metered")
    for gateway in (replicas.one, replicas.other, replicas.one):
        gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    deadline = time.monotonic() + 10  # each replica's usage writer commits within ~1 s
    while True:
        rows = query(
            replicas.database_url, "SELECT COUNT(*) FROM usage WHERE key_id = ?", (key_id,)
        )
        if rows[0][0] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rows[0][0] == 3
    summary = replicas.cli("usage", "--key", key_id)
    assert "gpt-4o-mini" in summary and " 3 " in f" {summary} "


@contextmanager
def commits_held(replicas: Replicas) -> Iterator[Callable[[float], None]]:
    """Stored responses answered meanwhile wait uncommitted in their replica's writer (a
    lock keeps writers out of the table, readers pass), as a busy writer's do for up to a
    commit period; `let_go(seconds)` lets them commit that much later."""
    holder = psycopg.connect(replicas.database_url)
    holder.execute("LOCK TABLE responses IN EXCLUSIVE MODE")
    timer: threading.Timer | None = None

    def let_go(seconds: float) -> None:
        nonlocal timer
        timer = threading.Timer(seconds, holder.rollback)
        timer.start()

    try:
        yield let_go
    finally:
        if timer is not None:
            timer.join()
        holder.close()


def answered_uncommitted(replicas: Replicas, let_go: Callable[[float], None]) -> str:
    """A response answered by `one` and committed 60 ms after a follow-up is sent."""
    first = gpt(replicas.one).responses.create(model="gpt-4o-mini", input="remember")
    let_go(0.06)
    return first.id


@pytest.mark.parametrize(
    "follow_up", ["synchronous", "background", "input_tokens", "retrieve", "input_items", "delete"]
)
def test_a_follow_up_on_the_other_replica_looks_again_for_the_uncommitted_response(
    replicas: Replicas, follow_up: str
) -> None:
    """The synchronous call looked again for a previous response not committed yet; a
    background response and input_tokens answered 400 previous_response_not_found, and a
    retrieve, its input items or a delete 404 (the deleted response committed after)."""
    other = gpt(replicas.other)
    with commits_held(replicas) as let_go:
        first = answered_uncommitted(replicas, let_go)
        if follow_up == "retrieve":
            assert other.responses.retrieve(first).status == "completed"
        elif follow_up == "input_items":
            assert len(other.responses.input_items.list(first).data) == 1
        elif follow_up == "delete":
            other.responses.delete(first)
        elif follow_up != "input_tokens":
            background = follow_up == "background"
            second = other.responses.create(
                model="gpt-4o-mini",
                input="what?",
                previous_response_id=first,
                background=background,
            )
            assert second.status == ("queued" if background else "completed")
        else:
            counted = httpx.post(
                f"{replicas.other.url}/v1/responses/input_tokens",
                headers=replicas.other.headers(),
                json={"model": "gpt-4o-mini", "input": "what?", "previous_response_id": first},
            )
            assert counted.status_code == 200, counted.text
    if follow_up == "background":
        done = replicas.other.wait_final(second.id)
        assert done["status"] == "success", done
    if follow_up == "delete":
        with pytest.raises(openai.NotFoundError):
            gpt(replicas.one).responses.retrieve(first)


def test_tasks_of_a_killed_replica_are_finished_by_the_other_exactly_once(
    replicas: Replicas,
) -> None:
    """Last in the module: it kills replica `one`."""
    run = uuid.uuid4().hex[:6]
    texts = [f"replicated {run} {n}" for n in range(12)]
    with ThreadPoolExecutor(6) as pool:
        ids = dict(
            zip(pool.map(lambda t: submit_slow(replicas.one, t, 1500), texts), texts, strict=True)
        )
    deadline = time.monotonic() + 10
    while not query(replicas.database_url, "SELECT 1 FROM tasks WHERE status = 'processing'"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    replicas.one.kill()
    for task_id, text in ids.items():
        task = replicas.other.wait_final(task_id, timeout=60)
        assert task["status"] == "success", task
        assert task["result"]["content"][0]["text"] == f"You said: {text}"
    placeholders = ", ".join("?" * len(ids))
    rows = query(
        replicas.database_url,
        f"SELECT completions, attempts FROM tasks WHERE id IN ({placeholders})",
        tuple(ids),
    )
    assert len(rows) == len(ids) and all(completions == 1 for completions, _ in rows)
