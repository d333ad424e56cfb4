"""The recorded events of background streamed responses: the event log (on both
backends), how a run's events are renumbered and patched, and how a client follows them
to the end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.storage import (
    ApiKey,
    Database,
    RecordedEvent,
    StoreCall,
    StoredResponse,
    open_database,
)
from polyrelay.storage.response_events import EventsRejected
from polyrelay.tasks.background_stream import (
    EventFeed,
    Recorder,
    final_error,
    follow,
    is_streamed,
    record_failure,
    submitted_events,
)
from polyrelay.tasks.model import NewTask, Task, TaskError, TaskKind, TaskStatus

KEY = ApiKey(id="key_a", name="a", prefix="", created_at=0)
RESP = "resp_1"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = open_database(database_url, clock=lambda: 1_700_000_000.0)
    yield database
    database.close()


def store_queued(database: Database, status: str = "queued") -> dict[str, object]:
    shell: dict[str, object] = {"id": RESP, "object": "response", "status": status, "output": []}
    database.responses.put(
        StoredResponse(id=RESP, key_id=KEY.id, created_at=0, status=status, response=shell)
    )
    database.responses.flush()
    return shell


def frame(kind: str, seq: int, **fields: object) -> bytes:
    document = {"type": kind, "sequence_number": seq, **fields}
    return f"event: {kind}\ndata: {json.dumps(document)}\n\n".encode()


def data_of(event: RecordedEvent) -> dict[str, object]:
    line = event.frame.split(b"\n")[1]
    document: dict[str, object] = json.loads(line.removeprefix(b"data: "))
    return document


def test_the_log_reads_back_in_order_and_refuses_a_number_twice(
    database: Database,
) -> None:
    log = database.response_events
    store_queued(database)
    assert log.next_seq(RESP) == 0 and log.read(RESP, -1) == []
    log.append(RESP, [RecordedEvent(0, b"a", False), RecordedEvent(1, b"b", False)])
    log.append(RESP, [RecordedEvent(2, b"c", True)])
    assert [e.frame for e in log.read(RESP, 0)] == [b"b", b"c"]
    assert log.next_seq(RESP) == 3 and log.ended(RESP)
    with pytest.raises(EventsRejected):
        log.append(RESP, [RecordedEvent(2, b"again", False)])
    with pytest.raises(EventsRejected):  # all or nothing: 3 is not kept either
        log.append(RESP, [RecordedEvent(3, b"d", False), RecordedEvent(2, b"again", False)])
    assert [e.frame for e in log.read(RESP, -1)] == [b"a", b"b", b"c"]
    with pytest.raises(EventsRejected):  # the response is not there
        log.append("resp_gone", [RecordedEvent(0, b"a", False)])
    assert log.next_seq(RESP) == 3 and log.read("resp_gone", -1) == []


def test_events_go_with_their_response_and_with_their_purged_task(
    database: Database,
) -> None:
    log = database.response_events
    store_queued(database)
    log.append(RESP, [RecordedEvent(0, b"a", True)])
    assert database.responses.delete(RESP, KEY.id)
    assert log.read(RESP, -1) == []
    store_queued(database)
    log.append(RESP, [RecordedEvent(0, b"a", True)])
    tasks = database.tasks
    tasks.enqueue(
        NewTask(
            id=RESP, kind=TaskKind.RESPONSE, key=KEY, endpoint="/v1/responses",
            request_id="req_1", model="m", body=b"{}", headers={}, callback_url=None,
            created_at=0,
        )
    )  # fmt: skip
    claimed = tasks.claim("w", 10)
    assert claimed is not None and tasks.complete(RESP, "w", b"{}")
    assert tasks.purge(0, 10) == 0 and log.read(RESP, -1) != []  # not old enough yet
    assert tasks.purge(2_000_000_000, 10) == 1
    assert log.read(RESP, -1) == []
    assert database.responses.get(RESP, KEY.id) is not None  # the response stays


def test_a_run_is_renumbered_after_the_submitted_events(database: Database) -> None:
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, submitted_events(shell))
    recorder = Recorder(log, EventFeed(), RESP)
    assert not recorder.cut_off
    upstream = b"".join(
        [
            frame("response.created", 0, response={"id": "up_1", "status": "in_progress"}),
            frame("response.in_progress", 1, response={"id": "up_1", "background": False}),
            frame("response.output_text.delta", 2, delta="Hi"),
            frame("response.completed", 3, response={"id": "up_1", "status": "completed"}),
            frame("response.output_text.delta", 4, delta="after the end"),
        ]
    )
    events = recorder.events_of(upstream[:50]) + recorder.events_of(upstream[50:])
    assert [e.seq for e in events] == [2, 3, 4]
    documents = [data_of(e) for e in events]
    assert [d["type"] for d in documents] == [
        "response.in_progress",
        "response.output_text.delta",
        "response.completed",
    ]
    assert [d["sequence_number"] for d in documents] == [2, 3, 4]
    assert documents[0]["response"] == {"id": RESP, "background": True, "store": True}
    assert [e.last for e in events] == [False, False, True]
    promised = {"id": RESP, "status": "completed", "background": True, "store": True}
    assert recorder.final == promised
    assert final_error(recorder) is None
    recorder.commit(events)
    assert Recorder(log, EventFeed(), RESP).cut_off  # a second run would follow a first's


def test_a_run_without_its_end_is_an_error(database: Database) -> None:
    recorder = Recorder(database.response_events, EventFeed(), RESP)
    recorder.events_of(frame("response.output_text.delta", 0, delta="x"))
    error = final_error(recorder)
    assert error is not None and error.status == 502
    recorder.events_of(frame("response.failed", 1, response={"error": {"message": "no"}}))
    error = final_error(recorder)
    assert error is not None and error.message == "no"


def test_a_failure_is_recorded_once(database: Database) -> None:
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, submitted_events(shell))
    task = Task(
        id=RESP, kind=TaskKind.RESPONSE, key=KEY, endpoint="/v1/responses", request_id="r",
        model="m", body=b"{}", headers={}, callback_url=None, created_at=0,
        status=TaskStatus.FAILED, started_at=0, finished_at=1, attempts=1, result=None,
        error=None, completions=0,
    )  # fmt: skip
    error = TaskError(type="api_error", message="upstream down", status=503)
    assert record_failure(log, task, shell, error)
    assert not record_failure(log, task, shell, error)  # the stream has its end already
    events = log.read(RESP, -1)
    assert [e.seq for e in events] == [0, 1, 2] and events[-1].last
    failed = data_of(events[-1])
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "upstream down"}  # type: ignore[index]


def test_is_streamed() -> None:
    assert is_streamed(b'{"model": "m", "stream": true}')
    assert not is_streamed(b'{"model": "m", "stream": false}')
    assert not is_streamed(b'{"model": "m", "input": "\\"stream\\""}')


async def collect(frames: object) -> list[bytes]:
    return [chunk async for chunk in frames]  # type: ignore[attr-defined]


def test_a_client_follows_to_the_terminal_event(database: Database) -> None:
    shell = store_queued(database)
    log, feed = database.response_events, EventFeed()
    log.append(RESP, submitted_events(shell))

    async def scenario() -> list[bytes]:
        reading = asyncio.create_task(
            collect(follow(log, database.responses, feed, RESP, KEY.id, 0))
        )
        await asyncio.sleep(0.05)
        log.append(RESP, [RecordedEvent(2, b"two", False)])
        feed.notify(RESP)
        await asyncio.sleep(0.05)
        log.append(RESP, [RecordedEvent(3, b"three", True), RecordedEvent(4, b"x", False)])
        feed.notify(RESP)
        return await asyncio.wait_for(reading, 2)

    chunks = asyncio.run(scenario())
    assert chunks[1:] == [b"two", b"three"]
    assert data_of(RecordedEvent(1, chunks[0], False))["type"] == "response.queued"
    assert type(chunks[-1]) is FinalFrames


def test_a_client_stops_when_the_response_ended_without_an_end_event(
    database: Database,
) -> None:
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, submitted_events(shell))
    database.responses.update_status(RESP, KEY.id, "cancelled")
    chunks = asyncio.run(collect(follow(log, database.responses, None, RESP, KEY.id, -1)))
    assert len(chunks) == 1 and b"response.queued" in chunks[0]


def test_a_client_waits_for_the_end_events_of_a_response_stored_as_completed(
    database: Database,
) -> None:
    """The run stores the completed Response before it records its last events; a
    follower that found it completed with nothing new for one poll used to stop there,
    its last events unread (seen on a loaded machine: the stream ended after a delta)."""
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, submitted_events(shell))
    database.responses.update_status(RESP, KEY.id, "completed")

    async def scenario() -> list[bytes]:
        reading = asyncio.create_task(
            collect(follow(log, database.responses, None, RESP, KEY.id, 1))
        )
        await asyncio.sleep(0.8)  # three polls and more: the end events commit late
        log.append(RESP, [RecordedEvent(2, b"done", False), RecordedEvent(3, b"end", True)])
        return await asyncio.wait_for(reading, 2)

    assert asyncio.run(scenario()) == [b"doneend"]


def test_a_client_reads_the_end_event_committed_while_it_looked_at_the_status(
    database: Database,
) -> None:
    """The follower polled once in the grace of a response stored as completed, read
    nothing again, and the run committed its end event before the follower looked at
    the status: the polls of the long grace were counted against the short one (the end
    is recorded), and the stream ended after a delta without its end event (seen between
    two replicas, every few dozen background streams)."""
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, submitted_events(shell))
    database.responses.update_status(RESP, KEY.id, "completed")
    reads = 0

    async def committing_after_the_second_read(fn: Any, *args: Any) -> Any:
        nonlocal reads
        result = fn(*args)
        if fn == log.read:
            reads += 1
            if reads == 2:  # the run commits its end between this read and the next look
                log.append(RESP, [RecordedEvent(2, b"end", True)])
        return result

    call = cast(StoreCall, committing_after_the_second_read)
    follower = follow(log, database.responses, None, RESP, KEY.id, 1, call=call)
    assert asyncio.run(asyncio.wait_for(collect(follower), 2)) == [b"end"]


def test_a_client_past_the_end_event_stops_at_once(database: Database) -> None:
    shell = store_queued(database)
    log = database.response_events
    log.append(RESP, [*submitted_events(shell), RecordedEvent(2, b"end", True)])
    database.responses.update_status(RESP, KEY.id, "completed")
    follower = follow(log, database.responses, None, RESP, KEY.id, 2)
    assert asyncio.run(asyncio.wait_for(collect(follower), 2)) == []
