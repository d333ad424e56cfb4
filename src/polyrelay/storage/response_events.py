"""The recorded events of background streamed Responses, on SQLite.

A response created with `background: true, stream: true` runs in the task worker, which
may be another server process than the one its client is connected to, and the client
may drop and come back with `GET /v1/responses/{id}?stream=true&starting_after=N`. So
every event the run produces is committed here, numbered by its `sequence_number`, and
each client streams what it reads back. The row marked `last` is the terminal event
(`response.completed`, `response.incomplete` or `response.failed`); nothing follows it.

Rows are written as they come, one short transaction per upstream chunk: this is the
background path, not the hot one. The first two, recorded at submission, are committed
with their response and its task (polyrelay.storage.submission). They go with their
response (`ON DELETE CASCADE`, so the response row must be there before the first
append) and with their task when the task is purged (polyrelay.storage.tasks).
"""

from __future__ import annotations

import msgspec

from polyrelay.storage.dialect import ConnectionLock, Dialect, SqlConnection
from polyrelay.storage.transaction import write_transaction

__all__ = [
    "EventsRejected",
    "RecordedEvent",
    "SqlResponseEventLog",
    "create_response_event_table",
    "insert_events",
]

_READ_LIMIT = 500
"""Events per read: a client far behind catches up in several reads, not one huge one."""


class EventsRejected(Exception):
    """A constraint refused the events: their response is gone, or they are recorded."""


class RecordedEvent(msgspec.Struct, frozen=True):
    seq: int
    frame: bytes
    """The whole SSE frame (`event: …\\ndata: …\\n\\n`) as clients receive it."""
    last: bool


def create_response_event_table(conn: SqlConnection) -> None:
    """Migration `0007_response_events`."""
    conn.execute(
        """
        CREATE TABLE response_events (
            response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            frame BLOB NOT NULL,
            last INTEGER NOT NULL,
            PRIMARY KEY (response_id, seq)
        ) WITHOUT ROWID
        """
    )


class SqlResponseEventLog:
    """Scoping to an API key is the caller's job: it reads the response through the
    ResponseStore (which is key-scoped) before it reads the response's events."""

    def __init__(self, conn: SqlConnection, lock: ConnectionLock, dialect: Dialect) -> None:
        self._conn = conn
        self._lock = lock
        self._integrity_errors = dialect.integrity_errors

    def append(self, response_id: str, events: list[RecordedEvent]) -> None:
        """Commit `events` (numbered after those recorded). EventsRejected when the
        response is gone or cancelled (its run, cancelled from another process, goes on
        until it learns so), or a sequence number is recorded already (a second writer
        for one response is a bug)."""
        try:
            with self._lock, write_transaction(self._conn):
                cancelled = self._conn.execute(
                    "SELECT 1 FROM responses WHERE id = ? AND status = 'cancelled'",
                    (response_id,),
                ).fetchone()
                if cancelled is not None:
                    raise EventsRejected(f"response {response_id} is cancelled")
                insert_events(self._conn, response_id, events)
        except self._integrity_errors as exc:
            raise EventsRejected(f"events of response {response_id} refused: {exc}") from exc

    def read(self, response_id: str, after: int) -> list[RecordedEvent]:
        """The events numbered above `after`, in order (at most a few hundred per call)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, frame, last FROM response_events"
                " WHERE response_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (response_id, after, _READ_LIMIT),
            ).fetchall()
        return [RecordedEvent(seq, bytes(frame), bool(last)) for seq, frame, last in rows]

    def next_seq(self, response_id: str) -> int:
        """The sequence number the next event takes (0 when none is recorded)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT max(seq) FROM response_events WHERE response_id = ?", (response_id,)
            ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def ended(self, response_id: str) -> bool:
        """Whether the terminal event is recorded."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM response_events WHERE response_id = ? AND last = 1",
                (response_id,),
            ).fetchone()
        return row is not None


def insert_events(conn: SqlConnection, response_id: str, events: list[RecordedEvent]) -> None:
    """Insert a response's events (in the caller's transaction)."""
    conn.executemany(
        "INSERT INTO response_events (response_id, seq, frame, last) VALUES (?, ?, ?, ?)",
        [(response_id, e.seq, e.frame, int(e.last)) for e in events],
    )
