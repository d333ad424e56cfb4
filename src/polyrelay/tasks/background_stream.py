"""`background: true, stream: true` on /v1/responses: a background response its clients
stream, and stream again after a drop with `GET /v1/responses/{id}?stream=true
&starting_after=N` (the openai SDK's `responses.stream(response_id=…)`).

At submission the `queued` Response is stored and its first two events are recorded:
`response.created` and `response.queued` (sequence numbers 0 and 1), in the transaction
that commits its task (polyrelay.storage.submission). The task worker,
in whichever server process claims it, then runs the request streamed and records each
event of the run in the ResponseEventLog, renumbered to follow on, with the Response's
id set to the promised one, `background: true` and `store: true` (the run sends `store:
false`: the task stores the response itself); the run's own `response.created` is left
out (the client has had one). Every client, the submitting POST included, streams
by reading the log back: at once when the run is in its own process (EventFeed), else
by polling every `_POLL_SECONDS`.

A run cut off mid-stream (its server died) cannot be resumed upstream: its retry ends
the response `failed`. A run that fails before it streams is retried like any task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.frontends.openai_responses.stream import KEEPALIVE
from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.signals import RESPONSE_EVENTS, Signals, Wakeups
from polyrelay.sse import SSEDecoder, SSEEvent, encode_event
from polyrelay.storage import (
    RecordedEvent,
    ResponseEventLog,
    ResponseStore,
    StoreCall,
    call_at_once,
)
from polyrelay.storage.response_events import EventsRejected
from polyrelay.tasks.background import error_code, mark_promised
from polyrelay.tasks.model import TaskError
from polyrelay.tasks.runner import Outcome, crashed, dispatch_task

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway
    from polyrelay.tasks.model import Task

__all__ = [
    "KEEPALIVE",
    "EventFeed",
    "Recorder",
    "follow",
    "is_streamed",
    "record_failure",
    "run_streamed",
    "submitted_events",
]

log = logging.getLogger("polyrelay.tasks")

SUBMITTED = 2
"""Events recorded at submission: `response.created` and `response.queued`."""
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
ENDED_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})
_ENDS_WITH_EVENT = frozenset({"completed", "incomplete", "failed"})
"""The ended statuses whose runs record a terminal event; a cancelled (or deleted)
response's stream just stops."""
_POLL_SECONDS = 0.25
_END_GRACE_POLLS = 40
"""Empty polls a follower waits for the terminal event of a response stored as ended
with one to come: the run stores the ended Response before it records its last events
(`run_streamed`'s `finish`), and a loaded database may take longer than a poll to commit
them (the follower ended after a delta, its last events unread). Past it (a run that died
in between), the follower stops; a response ended without such an event, after one."""
"""How often a client streaming a run of another server process looks for new events."""


def is_streamed(body: bytes) -> bool:
    """Whether a stored task body asks for a stream."""
    if b'"stream"' not in body:
        return False
    document = codec.decode(body)
    return isinstance(document, dict) and document.get("stream") is True


def _frame(document: JSONObject) -> bytes:
    return encode_event(codec.encode(document), str(document["type"]))


def submitted_events(shell: JSONObject) -> list[RecordedEvent]:
    """`response.created` and `response.queued` for the stored `queued` Response."""
    return [
        RecordedEvent(seq, _frame({"type": kind, "sequence_number": seq, "response": shell}), False)
        for seq, kind in enumerate(("response.created", "response.queued"))
    ]


class EventFeed(Wakeups):
    """Wakes the clients that follow a response when its run records events: those of
    this process and, with Redis, of every replica. Without Redis, clients of a run in
    another process poll instead."""

    def __init__(self, signals: Signals | None = None) -> None:
        super().__init__(signals, RESPONSE_EVENTS)


class Recorder:
    """Numbers, patches and commits the events of one background run."""

    def __init__(self, log: ResponseEventLog, feed: EventFeed, response_id: str) -> None:
        self._log = log
        self._feed = feed
        self._id = response_id
        self._decoder = SSEDecoder()
        self.next_seq = log.next_seq(response_id)
        self.final: JSONObject | None = None
        """The terminal event's Response, once the run has produced it."""
        self.final_type = ""

    @property
    def cut_off(self) -> bool:
        """An earlier run of this response streamed events and then stopped."""
        return self.next_seq > SUBMITTED

    def events_of(self, chunk: bytes) -> list[RecordedEvent]:
        """The events a chunk of the run's SSE stream completes, numbered and patched."""
        return [e for e in map(self._patch, self._decoder.feed(chunk)) if e is not None]

    def commit(self, events: list[RecordedEvent]) -> None:
        """Record `events` (a store call: Database.call runs it); `announce` them after."""
        self._log.append(self._id, events)

    def announce(self) -> None:
        """Wake the run's followers (on the event loop)."""
        self._feed.notify(self._id)

    def _patch(self, event: SSEEvent) -> RecordedEvent | None:
        try:
            document = codec.decode(event.data)
        except codec.DecodeError:
            return None
        if not isinstance(document, dict) or self.final is not None:
            return None
        kind = str(document.get("type") or event.event or "")
        if kind == "response.created":
            return None
        response = document.get("response")
        if isinstance(response, dict):
            mark_promised(response, self._id)
            if kind in TERMINAL:
                self.final, self.final_type = response, kind
        document["sequence_number"] = seq = self.next_seq
        self.next_seq += 1
        return RecordedEvent(seq, _frame(document), kind in TERMINAL)


def final_error(recorder: Recorder) -> TaskError | None:
    """The run's error when it did not end completed or incomplete."""
    if recorder.final is None:
        return TaskError(
            type="api_error", message="the upstream stream ended before its end", status=502
        )
    if recorder.final_type != "response.failed":
        return None
    error = recorder.final.get("error")
    message = str(error.get("message")) if isinstance(error, dict) else "the response failed"
    return TaskError(type="api_error", message=message, status=502)


_DELETED = TaskError(
    type="invalid_request_error", message="the response was deleted while it ran", status=404
)
_CUT_OFF = TaskError(
    type="api_error",
    message="the server running this background response stopped mid-stream, and a stream"
    " cannot be resumed upstream; the events it recorded stay readable",
    status=500,
)


async def run_streamed(
    gateway: Gateway,
    task: Task,
    recorder: Recorder,
    finish: Callable[[bytes], Awaitable[None]],
) -> Outcome:
    """Run a background streamed response, recording its events. `finish` stores the
    final Response; it runs before the terminal event is recorded, so a client that has
    seen the end reads the ended response."""
    if recorder.cut_off:
        return Outcome(error=_CUT_OFF)
    response = await dispatch_task(gateway, task)
    if isinstance(response, Outcome):
        return response
    frames: AsyncIterator[bytes] | None = getattr(response, "frames", None)
    if frames is None:
        message = "the streamed call did not answer with a stream"
        return Outcome(error=TaskError(type="api_error", message=message, status=500))
    try:
        call = gateway.database.call
        async for chunk in frames:
            events = recorder.events_of(chunk)
            if not events:
                continue
            if recorder.final is not None and events[-1].last:
                await finish(codec.encode(recorder.final))
            await call(recorder.commit, events)
            recorder.announce()
    except EventsRejected:
        # The response was deleted under the run (its events cannot outlive it), or
        # cancelled from another process: stop.
        log.info("background response %s was deleted while it ran, or cancelled", task.id)
        return Outcome(error=_DELETED)
    except Exception as exc:
        return crashed(exc, f"background response {task.id}")
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    error = final_error(recorder)
    if error is not None or recorder.final is None:
        return Outcome(error=error)
    return Outcome(result=codec.encode(recorder.final))


def record_failure(
    log: ResponseEventLog, task: Task, response: JSONObject, error: TaskError
) -> bool:
    """End a failed run's event stream with `response.failed`, unless it has its end;
    whether it did (its followers are then to be woken)."""
    if log.ended(task.id):
        return False
    failed: dict[str, Any] = {**response, "id": task.id, "status": "failed", "background": True}
    failed["error"] = {"code": error_code(error), "message": error.message}
    seq = log.next_seq(task.id)
    document = {"type": "response.failed", "sequence_number": seq, "response": failed}
    log.append(task.id, [RecordedEvent(seq, _frame(document), True)])
    return True


async def follow(
    log: ResponseEventLog,
    responses: ResponseStore,
    feed: EventFeed | None,
    response_id: str,
    key_id: str,
    after: int,
    *,
    call: StoreCall = call_at_once,
) -> AsyncGenerator[bytes, None]:
    """The recorded events numbered above `after`, then the run's new ones as they are
    recorded, until the terminal event; or until the response ended without one
    (cancelled, or its events purged). `call` makes the reads (Database.call)."""
    with contextlib.ExitStack() as stack:
        wake = stack.enter_context(feed.subscription(response_id)) if feed else None
        ended_polls = 0
        counted_grace: int | None = None
        while True:
            if wake is not None:
                wake.clear()
            events = await call(log.read, response_id, after)
            if events:
                ending = next((n for n, event in enumerate(events) if event.last), None)
                if ending is not None:
                    yield FinalFrames(b"".join(event.frame for event in events[: ending + 1]))
                    return
                after = events[-1].seq
                yield b"".join(event.frame for event in events)
                ended_polls = 0
                continue
            grace = await call(_end_grace, log, responses, response_id, key_id)
            if grace != counted_grace:
                # The polls of a longer grace do not count against a new one: the end
                # event committed between this read and that look has yet to be read.
                ended_polls, counted_grace = 0, grace
            if grace is not None:
                ended_polls += 1
                if ended_polls > grace:  # ended, and nothing more came meanwhile: the end
                    return
            await _wait(wake)


def _end_grace(
    log: ResponseEventLog, responses: ResponseStore, response_id: str, key_id: str
) -> int | None:
    """None while the response runs; once it has ended, the empty polls to wait for
    events still to be committed (_END_GRACE_POLLS while its terminal event is to come)."""
    record = responses.get(response_id, key_id)
    if record is None:
        return 1  # deleted
    if record.status not in ENDED_STATUSES:
        return None
    if record.status in _ENDS_WITH_EVENT and not log.ended(response_id):
        return _END_GRACE_POLLS
    return 1


async def _wait(wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(_POLL_SECONDS)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_POLL_SECONDS):
            await wake.wait()
