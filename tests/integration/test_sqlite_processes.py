"""Two gateway processes on one SQLite file and no Redis: nothing signals between them,
so each learns what the other did by polling the database. This is what `serve
--workers N` on the default SQLite relies on, and the fallback a PostgreSQL deployment
would have if its signals were down:
- a revoked key is refused once its cached lookup (KEY_CACHE_SECONDS) runs out;
- a cancel made on the other process stops the run at its next lease renewal;
- a background stream is followed from the other process by polling its events."""

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

HELLO: Any = [{"role": "user", "content": "hello"}]


class Processes(GatewayPair):
    def __init__(self, database: str, gateways: tuple[TasksGateway, TasksGateway]) -> None:
        super().__init__(*gateways)
        self.database = database

    def recorded(self, response_id: str) -> int:
        sql = "SELECT COUNT(*) FROM response_events WHERE response_id = ?"
        return int(query(self.database, sql, (response_id,))[0][0])


@pytest.fixture(scope="module")
def processes(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    database = f"sqlite:///{tmp_path_factory.mktemp('shared') / 'polyrelay.db'}"
    for gateways in running_pair(tmp_path_factory, emulator.url, database):
        yield Processes(database, gateways)


def test_no_signal_channel_is_announced(processes: Processes) -> None:
    logged = "".join(log.read_text() for log in processes.one.workdir.glob("gateway-*.log"))
    assert "  database: SQLite " in logged, logged
    assert "signals between processes" not in logged


def test_a_revoked_key_is_refused_by_both_once_their_cached_lookup_expires(
    processes: Processes,
) -> None:
    key_id, secret = processes.new_key("polled")
    for gateway in (processes.one, processes.other):  # both now hold the key in their cache
        reply = gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert reply.choices[0].message.content == "You said: hello"
    processes.cli("keys", "revoke", key_id)
    revoked_at = time.monotonic()
    for gateway in (processes.one, processes.other):
        while True:
            try:
                gpt(gateway, secret).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            except openai.AuthenticationError:
                break
            waited = time.monotonic() - revoked_at
            assert waited < KEY_CACHE_SECONDS + 3, "the revoked key is still served"
            time.sleep(0.2)


def test_a_cancel_on_the_other_process_stops_the_run_at_its_next_renewal(
    processes: Processes,
) -> None:
    with gpt(processes.one).responses.create(
        model="gpt-5-mini", input="[[words 6000]] go", background=True, stream=True
    ) as stream:
        response_id = next(iter(stream)).response.id
    deadline = time.monotonic() + 10
    while processes.recorded(response_id) < 20:
        assert time.monotonic() < deadline, "the run records no events"
        time.sleep(0.05)
    sql = "SELECT lease_owner FROM tasks WHERE id = ?"
    (owner,) = query(processes.database, sql, (response_id,))[0]
    running_on_one = owner in processes.one.worker_ids()
    assert running_on_one or owner in processes.other.worker_ids()
    runs, elsewhere = (
        (processes.one, processes.other) if running_on_one else (processes.other, processes.one)
    )
    # Leases are 3 s here, renewed every second: the renewal finds the task cancelled.
    assert gpt(elsewhere).responses.cancel(response_id).status == "cancelled"
    time.sleep(2.0)
    settled = processes.recorded(response_id)
    time.sleep(1.5)
    assert processes.recorded(response_id) == settled, "the cancelled run still records events"
    assert gpt(runs).responses.retrieve(response_id).status == "cancelled"


def test_a_background_stream_is_followed_from_the_other_process(processes: Processes) -> None:
    with gpt(processes.one).responses.create(
        model="gpt-5-mini", input="[[delay 300]] count with me", background=True, stream=True
    ) as stream:
        first = next(iter(stream))
    assert first.type == "response.created"
    events = list(
        gpt(processes.other).responses.retrieve(
            first.response.id, stream=True, starting_after=first.sequence_number
        )
    )
    assert events[-1].type == "response.completed"
    numbers = [event.sequence_number for event in events]
    assert numbers == list(range(first.sequence_number + 1, numbers[-1] + 1))
    done = gpt(processes.other).responses.retrieve(first.response.id)
    assert done.status == "completed" and done.output_text == "You said: count with me"


@pytest.mark.parametrize("stream", [False, True])
def test_a_response_cancelled_on_the_other_process_stays_cancelled(
    processes: Processes, stream: bool
) -> None:
    """The run goes on until its next lease renewal (a second here) and may end first:
    what it stores then must not undo the cancel."""
    created = gpt(processes.one).responses.create(
        model="gpt-4o-mini", input="[[delay 800]] finish me", background=True, stream=stream
    )
    if stream:
        with created as events:  # type: ignore[union-attr]
            response_id = next(iter(events)).response.id
    else:
        response_id = created.id  # type: ignore[union-attr]
    sql = "SELECT status, lease_owner FROM tasks WHERE id = ?"
    deadline = time.monotonic() + 5
    while (row := query(processes.database, sql, (response_id,))[0])[0] != "processing":
        assert time.monotonic() < deadline, row
        time.sleep(0.01)
    runs_on_one = row[1] in processes.one.worker_ids()
    elsewhere = processes.other if runs_on_one else processes.one
    assert gpt(elsewhere).responses.cancel(response_id).status == "cancelled"
    time.sleep(2.0)  # the run has ended, or stopped at its renewal
    for gateway in (processes.one, processes.other):
        response = gpt(gateway).responses.retrieve(response_id)
        assert (response.id, response.status, response.output) == (response_id, "cancelled", [])
    events_sql = "SELECT frame FROM response_events WHERE response_id = ?"
    frames = [bytes(frame) for (frame,) in query(processes.database, events_sql, (response_id,))]
    assert not any(b"response.completed" in frame for frame in frames)
