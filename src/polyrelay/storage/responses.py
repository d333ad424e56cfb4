"""Stored OpenAI Responses (`store: true`), on SQLite.

A stored response is its Response object (the JSON `GET /v1/responses/{id}` returns), the
items of its own turn's input (normalised to item form, each with an id, in the order sent)
and its output items. `previous_response_id` links a response to the one it continued, so
the conversation of a response is the chain's input and output items, oldest first.

Every read and write is scoped to the API key that created the response: another key's id
behaves exactly like an unknown one. A response's input items are one JSON array in its
own row (migration 0005; they had a table of their own): storing a response is then one
upsert instead of three statements (upsert, delete the old items, insert the new ones),
≈17 µs of CPU per response instead of ≈31 in a SQLite micro-benchmark (WAL, batches of
40), and every `store: true` request pays it. `GET /v1/responses/{id}/input_items` now
decodes the whole array and pages it in Python: the cost moves to a read that is far
rarer than the write.

`put` does not write on the caller's thread (the event loop): it parks the record in a
pending map and a writer thread commits what has accumulated in one transaction (group
commit). `get` answers from the pending map first, and every other call commits the
pending records before it runs, so within the process a response is readable the moment
`put` returns. Costs, by design: a response the client has already received can be lost
if the process dies before the writer commits it (within COMMIT_SECONDS, 50 ms, or for
as long as the database is unreachable; graceful shutdown flushes), and with several
worker processes another worker sees it only once it is committed. A batch the database
cannot take now waits, readable, for the writer's next try; a record it refuses is
logged and dropped (group_commit).
"""

from __future__ import annotations

import itertools
import logging
import threading

import msgspec

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.storage.dialect import ConnectionLock, Dialect, SqlConnection
from polyrelay.storage.group_commit import GroupCommit
from polyrelay.storage.input_items import InputItemsPage, Order, page_of
from polyrelay.storage.postgres_green import hold
from polyrelay.storage.transaction import write_transaction

__all__ = [
    "COMMIT_SECONDS",
    "RESPONSE_STATUSES",
    "EncodedResponse",
    "InputItemsPage",
    "ResponseRow",
    "SqlResponseStore",
    "StoredResponse",
    "create_response_tables",
    "index_by_creation",
    "inline_input_items",
    "insert_responses",
    "response_rows",
]

RESPONSE_STATUSES = frozenset(
    {"completed", "incomplete", "failed", "queued", "in_progress", "cancelled"}
)


class _ResponseRow(msgspec.Struct, kw_only=True):
    """What every stored response has, however its content is held."""

    id: str
    key_id: str
    created_at: int
    status: str
    """One of RESPONSE_STATUSES."""
    previous_response_id: str | None = None


class StoredResponse(_ResponseRow, kw_only=True):
    response: JSONObject
    """The Response object as the client receives it."""
    input_items: list[JSONObject] = msgspec.field(default_factory=list)
    """This turn's input items only (not the inherited chain), each with an `id`."""
    output_items: list[JSONObject] = msgspec.field(default_factory=list)


class EncodedResponse(_ResponseRow, kw_only=True):
    """A response to store in the form the hot path has it: the Response object's JSON as
    it was sent to the client and the input items as decoded structs. The writer thread
    stores them as they are (no dict conversion, no second encode); `get` hands back a
    StoredResponse. The output items are the Response's `output`."""

    response: bytes
    input_items: list[object] = msgspec.field(default_factory=list)


def create_response_tables(conn: SqlConnection) -> None:
    """Migration `0002_responses`."""
    conn.execute(
        """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            previous_response_id TEXT,
            response TEXT NOT NULL,
            output_items TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX responses_by_key ON responses (key_id, created_at)")
    conn.execute(
        """
        CREATE TABLE response_input_items (
            response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            item_id TEXT NOT NULL,
            item TEXT NOT NULL,
            PRIMARY KEY (response_id, position)
        )
        """
    )


def index_by_creation(conn: SqlConnection) -> None:
    """Migration `0008_responses_by_created`: the retention purge finds expired responses
    by `created_at`; no query ever used the (key_id, created_at) index, which cost every
    insert as much as this one does."""
    conn.execute("DROP INDEX IF EXISTS responses_by_key")
    conn.execute("CREATE INDEX responses_by_created ON responses (created_at)")


def inline_input_items(conn: SqlConnection) -> None:
    """Migration `0005_inline_input_items`: each response's rows of `response_input_items`
    become its `input_items` array, in `position` order, and the table goes."""
    conn.execute("ALTER TABLE responses ADD COLUMN input_items TEXT NOT NULL DEFAULT '[]'")
    rows = conn.execute(
        "SELECT response_id, item FROM response_input_items ORDER BY response_id, position"
    )
    for response_id, group in itertools.groupby(rows, key=lambda row: row[0]):
        items = [codec.decode(item) for _, item in group]
        conn.execute(
            "UPDATE responses SET input_items = ? WHERE id = ?",
            (codec.encode_str(items), response_id),
        )
    conn.execute("DROP TABLE response_input_items")


log = logging.getLogger("polyrelay.responses")

_GATHER_SECONDS = 0.01
COMMIT_SECONDS = 0.05
"""The longest a parked response waits for its batch before the writer commits it (10 ms
when the store is quiet, up to 50 ms between the commits of a busy one); another worker
process sees the response only after that."""
_PARKED_CAP = 10_000
"""Responses waiting for an unreachable database: ≈ 2 KiB for a short exchange, tens with
long answers or many items, so 20 to a few hundred MiB; ~2 minutes of 100 a second."""

_COLUMNS = (
    "id, key_id, created_at, status, previous_response_id, response, output_items, input_items"
)


class SqlResponseStore:
    def __init__(self, conn: SqlConnection, lock: ConnectionLock, dialect: Dialect) -> None:
        self._conn = conn
        self._lock = lock
        # Batches commit in the order they were taken, whichever thread flushes.
        self._flushing = threading.Lock()
        self._pending: dict[str, StoredResponse | EncodedResponse] = {}
        # One transaction per batch, and far fewer GIL handoffs than one per put.
        self._commit = GroupCommit(
            "polyrelay-responses",
            _GATHER_SECONDS,
            interval_seconds=COMMIT_SECONDS,
            pending_count=lambda: len(self._pending),
            flush=self._flush,
            discard=lambda: self._pending.clear(),
            closed_errors=dialect.closed_errors,
            drop_oldest=self._drop_oldest,
            cap=_PARKED_CAP,
            what="stored responses",
            log=log,
        )

    def put(self, record: StoredResponse | EncodedResponse) -> None:
        """Insert or replace `record` (same id and key); its input items are replaced too.
        Committed by the writer thread; readable through this store at once. A
        StoredResponse with no output items takes its Response's `output`."""
        with self._commit.lock:
            parked = self._pending.get(record.id)
            if parked is not None and parked.key_id != record.key_id:
                clash = True
            else:
                clash = False
                self._pending[record.id] = record
                if len(self._pending) > self._commit.cap:  # the database is out or slow
                    self._commit.overflow()
                self._commit.wake()
        if clash:  # another key's response with this id is parked: keep the order exact
            self._commit.flush_now()
            self.put(record)

    def flush(self) -> None:
        """See ResponseStore.flush: an unreachable database is logged and raised, since
        callers flush so that another process sees the records."""
        self._commit.flush(raise_unreachable=True)

    def _flush(self) -> None:
        with hold(self._flushing), self._lock:
            with self._commit.lock:
                batch = list(self._pending.values())
            if batch:
                # One committed alone before the database went away is upserted again.
                self._commit.write(batch, self._transaction, _rejected)
                with self._commit.lock:
                    for record in batch:
                        if self._pending.get(record.id) is record:
                            del self._pending[record.id]

    def _drop_oldest(self, count: int) -> None:
        for response_id in list(itertools.islice(self._pending, count)):
            del self._pending[response_id]

    def _transaction(self, batch: list[StoredResponse | EncodedResponse]) -> None:
        rows = response_rows(batch)  # encoded before the write lock is taken
        with write_transaction(self._conn):
            insert_responses(self._conn, rows)

    def get(self, response_id: str, key_id: str) -> StoredResponse | None:
        """The response with its input items, or None (unknown, or another key's)."""
        parked = self._pending.get(response_id)
        if parked is not None:
            if parked.key_id == key_id:
                return _readable(parked)
            self._commit.flush_now()
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM responses WHERE id = ? AND key_id = ?",  # noqa: S608
                (response_id, key_id),
            ).fetchone()
        if row is None:
            return None
        rid, key, created_at, status, previous, response, output, items = row
        document = codec.decode(response)
        return StoredResponse(
            id=rid,
            key_id=key,
            created_at=created_at,
            status=status,
            previous_response_id=previous,
            response=document,
            input_items=codec.decode(items),
            output_items=codec.decode(output) if output else _output_of(document),
        )

    def delete(self, response_id: str, key_id: str) -> bool:
        self._commit.flush_now()
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM responses WHERE id = ? AND key_id = ?", (response_id, key_id)
            )
        return cursor.rowcount == 1

    def purge(self, created_before: int, limit: int) -> int:
        """Delete up to `limit` responses created before then (their events go too)."""
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM responses WHERE id IN"
                " (SELECT id FROM responses WHERE created_at < ? LIMIT ?)",
                (created_before, limit),
            )
        return cursor.rowcount

    def update_status(
        self,
        response_id: str,
        key_id: str,
        status: str,
        *,
        response: JSONObject | None = None,
        output_items: list[JSONObject] | None = None,
    ) -> bool:
        """Set the status (and, when given, the Response object and output items), e.g.
        when a background response finishes; False when there is no such response, or it
        was cancelled (which is final: its run may be stopping in another process)."""
        if status not in RESPONSE_STATUSES:
            raise ValueError(f"unknown response status {status!r}")
        sets, values = ["status = ?"], [status]
        if response is not None:
            sets.append("response = ?")
            values.append(codec.encode_str(response))
        if output_items is not None:
            sets.append("output_items = ?")
            values.append(codec.encode_str(output_items))
        self._commit.flush_now()
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE responses SET {', '.join(sets)}"  # noqa: S608
                " WHERE id = ? AND key_id = ? AND status != 'cancelled'",
                (*values, response_id, key_id),
            )
        return cursor.rowcount == 1

    def input_items(
        self,
        response_id: str,
        key_id: str,
        *,
        after: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> InputItemsPage | None:
        """A page of the response's input items; None when the response is not this key's.
        `after` is an item id: the page starts after it in `order` (an unknown id → empty).
        A record still parked is paged from memory, as `get` reads it: in an outage too."""
        parked = self._pending.get(response_id)
        if parked is not None:
            if parked.key_id == key_id:
                # A copy: page_of orders the list in place, and the record is still to write.
                return page_of(list(_readable(parked).input_items), after, limit, order)
            self._commit.flush_now()
        with self._lock:
            row = self._conn.execute(
                "SELECT input_items FROM responses WHERE id = ? AND key_id = ?",
                (response_id, key_id),
            ).fetchone()
        if row is None:
            return None
        return page_of(codec.decode(row[0]), after, limit, order)


ResponseRow = tuple[str, str, int, str, str | None, str, str, str]
"""A response as `insert_responses` writes it: the columns of `_COLUMNS`, in order."""


def response_rows(records: list[StoredResponse | EncodedResponse]) -> list[ResponseRow]:
    return [
        (
            record.id,
            record.key_id,
            record.created_at,
            record.status,
            record.previous_response_id,
            *_response_columns(record),
            codec.encode_str(record.input_items),
        )
        for record in records
    ]


def insert_responses(conn: SqlConnection, rows: list[ResponseRow]) -> None:
    """Insert, or replace the same key's, responses (in the caller's transaction). Also
    the background submission's (polyrelay.storage.submission), which is not parked."""
    # The key guard: an id that collides with another key's response leaves that key's
    # row, input items included, as it was. A cancelled (background) response stays so,
    # though its run, cancelled from another process, may end before it stops.
    conn.executemany(
        f"INSERT INTO responses ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
        " previous_response_id = excluded.previous_response_id,"
        " response = excluded.response, output_items = excluded.output_items,"
        " input_items = excluded.input_items"
        " WHERE responses.key_id = excluded.key_id AND responses.status != 'cancelled'",
        rows,
    )


# An empty `output_items` column means "the Response's own `output`" (the usual case), so
# the output is not encoded and stored twice.


def _response_columns(record: StoredResponse | EncodedResponse) -> tuple[str, str]:
    if isinstance(record, EncodedResponse):
        return record.response.decode(), ""
    output = codec.encode_str(record.output_items) if record.output_items else ""
    return codec.encode_str(record.response), output


def _rejected(record: StoredResponse | EncodedResponse) -> None:
    log.exception("could not store response %s", record.id)


def _output_of(response: JSONObject) -> list[JSONObject]:
    output = response.get("output")
    return list(output) if isinstance(output, list) else []


def _readable(record: StoredResponse | EncodedResponse) -> StoredResponse:
    """A parked record as `get` returns it: plain JSON values, output items filled in."""
    if isinstance(record, StoredResponse):
        if record.output_items:
            return record
        return msgspec.structs.replace(record, output_items=_output_of(record.response))
    document = codec.decode(record.response)
    return StoredResponse(
        id=record.id,
        key_id=record.key_id,
        created_at=record.created_at,
        status=record.status,
        previous_response_id=record.previous_response_id,
        response=document,
        input_items=[msgspec.to_builtins(item) for item in record.input_items],
        output_items=_output_of(document),
    )
