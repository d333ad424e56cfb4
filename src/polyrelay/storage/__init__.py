"""Persistent stores behind small protocols, opened from the `database` URL in the settings.

`open_database` is the one constructor: the app and the CLI call it once and pass the stores
it exposes to whoever needs them. Store methods are short (an indexed lookup or a single-row
write) and synchronous; code on the event loop makes them through `Database.call`, which on
SQLite calls at once and on PostgreSQL runs them without blocking the loop
(polyrelay.storage.postgres_green).
`ResponseStore.put` and `UsageStore.record` are called directly: they park the record
(readable at once) for a writer thread to commit in batches, because they run once per
request on the hot path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, ParamSpec, Protocol, TypeVar

import msgspec

from polyrelay.codec import JSONObject
from polyrelay.database_url import PoolMode, is_postgres_url
from polyrelay.storage.key_limits import NO_LIMITS, KeyLimits, KeyWindow
from polyrelay.storage.response_events import RecordedEvent
from polyrelay.storage.responses import (
    COMMIT_SECONDS,
    EncodedResponse,
    InputItemsPage,
    StoredResponse,
)
from polyrelay.storage.usage import GroupBy, UsageGroup, UsageRecord

if TYPE_CHECKING:
    from polyrelay.storage.batches import BatchRequestResult, BatchRow, BatchState
    from polyrelay.tasks.model import Delivery, NewTask, Task, TaskError

__all__ = [
    "COMMIT_SECONDS",
    "STATIC_KEY_ID_PREFIX",
    "ApiKey",
    "BatchStore",
    "Database",
    "DatabaseSettings",
    "EncodedResponse",
    "InputItemsPage",
    "KeyLimits",
    "KeyStore",
    "KeyWindow",
    "PoolMode",
    "RecordedEvent",
    "ResponseEventLog",
    "ResponseStore",
    "StorageError",
    "StoreCall",
    "StoredResponse",
    "TaskStore",
    "UsageGroup",
    "UsageRecord",
    "UsageStore",
    "call_at_once",
    "describe_database",
    "is_postgres_url",
    "open_configured",
    "open_database",
]


P = ParamSpec("P")
T = TypeVar("T")


class StorageError(Exception):
    """The database cannot be opened or used; the message says what to fix."""


STATIC_KEY_ID_PREFIX = "static:"
"""A static (config) key's id is this + its name: its stored data belongs to the name."""


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    prefix: str
    """The first 10 characters of the secret, for telling keys apart in listings."""
    models: tuple[str, ...] | None = None
    """The public model names this key may use; None means every model."""
    created_at: int
    revoked_at: int | None = None
    limits: KeyLimits = NO_LIMITS
    demo: bool = False
    """Made by `serve` as the emulator-only default's demo key, which its next start
    revokes. Only `serve` sets it, so no key an operator made is ever taken for one, whatever
    its name."""


class KeyStore(Protocol):
    """Client API keys. Only a hash of each secret is stored; the secret exists once."""

    def get_by_hash(self, digest: str) -> ApiKey | None:
        """The key whose secret hashes to `digest`, revoked or not; None when unknown."""
        ...

    def create(
        self,
        name: str,
        models: tuple[str, ...] | None,
        limits: KeyLimits = NO_LIMITS,
        *,
        demo: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret. The secret is not stored and cannot be shown again."""
        ...

    def admit(self, key_id: str, minute: int) -> KeyWindow:
        """Count a request of a key with counted limits (KeyLimits.counted) in `minute`
        (Unix time // 60), shared by every process; the minute's counts after it and the
        key's lifetime tokens."""
        ...

    def refund(self, key_id: str, minute: int) -> None:
        """Uncount a request `admit` counted that a limit then refused."""
        ...

    def window(self, key_id: str, minute: int) -> KeyWindow:
        """The counts `admit` returns, without counting a request."""
        ...

    def revoke(self, key_id: str) -> bool:
        """Revoke an active key; False when no active key has that id."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...


class ResponseStore(Protocol):
    """Stored OpenAI Responses (`store: true`), each readable only by the key that made it.

    The Responses frontend `put`s a response when it completes (or ends incomplete); the
    async task mode commits a `queued` one for `background: true` with its task
    (Database.submit_background) and later calls `update_status`. Every other key gets
    None/False, exactly as for an unknown id.
    """

    def put(self, record: StoredResponse | EncodedResponse) -> None:
        """Insert, or replace the record with the same id and key (input items too). A
        StoredResponse with no output items takes its Response's `output`."""
        ...

    def get(self, response_id: str, key_id: str) -> StoredResponse | None: ...

    def flush(self) -> None:
        """Commit every parked record now, on the calling thread. When the database is
        unreachable the records stay parked for the writer thread (readable by `get`),
        how many is logged (what a shutdown that ends now loses), and the error is
        raised: callers flush so that another process sees the records, and cannot say
        it does. Any other error is raised too."""
        ...

    def delete(self, response_id: str, key_id: str) -> bool: ...

    def purge(self, created_before: int, limit: int) -> int:
        """Delete up to `limit` responses, any key's, created before `created_before` (Unix
        time); how many were deleted."""
        ...

    def update_status(
        self,
        response_id: str,
        key_id: str,
        status: str,
        *,
        response: JSONObject | None = None,
        output_items: list[JSONObject] | None = None,
    ) -> bool:
        """Set the status, and the Response object and output items when given."""
        ...

    def input_items(
        self,
        response_id: str,
        key_id: str,
        *,
        after: str | None = None,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> InputItemsPage | None:
        """A page of this turn's input items; None when the response is not this key's."""
        ...


class BatchStore(Protocol):
    """Anthropic Message Batches, each request a task of kind `batch`
    (polyrelay.storage.batches). `get` and `page` are scoped to the key."""

    def create(self, batch: BatchRow, requests: list[tuple[str, NewTask]]) -> None:
        """The batch and its (custom_id, task) requests, all or nothing."""
        ...

    def get(self, batch_id: str, key_id: str) -> BatchRow | None: ...

    def page(
        self, key_id: str, limit: int, after_id: str | None, before_id: str | None
    ) -> list[BatchRow]: ...

    def state(self, batch_id: str) -> BatchState: ...

    def results(self, batch_id: str) -> Iterator[BatchRequestResult]: ...

    def cancel(self, batch_id: str, now: float) -> list[str]:
        """Cancel the batch's unfinished tasks; their ids."""
        ...

    def expire_overdue(self, batch: BatchRow, now: float) -> int:
        """End `expired` the unstarted requests of `batch` once it is past `expires_at`."""
        ...

    def expire_claimed(self, task_id: str, now: float) -> bool:
        """End `expired` a just-claimed request whose batch is past `expires_at`."""
        ...

    def purge(self, created_before: float, limit: int) -> int:
        """Delete a chunk of the ended batches made before `created_before` (their
        requests and tasks first); the rows deleted, 0 when none are left."""
        ...

    def delete(self, batch_id: str) -> None: ...


class ResponseEventLog(Protocol):
    """The events of background streamed Responses, numbered by `sequence_number`, for
    every server process to stream and for clients to resume (see
    polyrelay.storage.response_events). Not key-scoped: read the response first."""

    def append(self, response_id: str, events: list[RecordedEvent]) -> None:
        """Commit the next events; the response's row must be committed already."""
        ...

    def read(self, response_id: str, after: int) -> list[RecordedEvent]:
        """The next events numbered above `after`, oldest first."""
        ...

    def next_seq(self, response_id: str) -> int: ...

    def ended(self, response_id: str) -> bool:
        """Whether the terminal event is recorded."""
        ...


class TaskStore(Protocol):
    """Async tasks and their webhook deliveries (polyrelay.tasks).

    Every state change is one guarded UPDATE (`... WHERE status = <expected>`), so several
    server processes can share the store: a claim, a completion or a cancel succeeds in
    exactly one of them, and a method returns False when its guard no longer held.
    """

    def enqueue(self, task: NewTask) -> None:
        """Commit a new pending task; it is durable when this returns."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def list(self, key_id: str | None, limit: int, after: str | None) -> list[Task]:
        """Newest first; `after` is the id of the last task of the previous page."""
        ...

    def claim(self, worker: str, lease_seconds: float) -> Task | None:
        """Take the oldest claimable task (pending and due, or processing with an expired
        lease): it becomes processing, leased to `worker`, with one more attempt."""
        ...

    def renew(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        """Extend the lease; False when the task is no longer this worker's (cancelled)."""
        ...

    def complete(self, task_id: str, worker: str, result: bytes) -> bool: ...

    def fail(self, task_id: str, worker: str, error: TaskError) -> bool: ...

    def retry(self, task_id: str, worker: str, not_before: float, error: TaskError) -> bool:
        """Back to pending, claimable from `not_before` on."""
        ...

    def cancel(self, task_id: str) -> bool:
        """Pending or processing → cancelled; False when the task had already ended."""
        ...

    def delete(self, task_id: str, key_id: str) -> bool:
        """Delete the key's task, ended or not (stop its run first), and its delivered
        webhooks; one not yet delivered keeps the task object it sends, without result or
        error. False when the key has no such task."""
        ...

    def purge(self, finished_before: float, limit: int) -> int:
        """Delete up to `limit` tasks that ended before then (keeping those with pending
        webhooks), in one short transaction; how many were deleted, fewer than `limit`
        once none are left."""
        ...

    def claim_delivery(self, worker: str, lease_seconds: float) -> Delivery | None:
        """The oldest due webhook delivery, leased to `worker`."""
        ...

    def delivery_done(self, delivery_id: str, worker: str, error: str | None) -> None:
        """Delivered (`error` None: the error of an earlier attempt is cleared) or given
        up, for `error` (that of its last attempt)."""
        ...

    def delivery_retry(self, delivery_id: str, worker: str, at: float, error: str) -> None: ...

    def secret(self, name: str, generate: Callable[[], str]) -> str:
        """The stored secret `name`, created with `generate` the first time (once across
        processes)."""
        ...


class UsageStore(Protocol):
    """Usage accounting: one row per request an upstream served or refused (see
    polyrelay.pipeline.metering). `record` parks the row for a writer thread, like
    `ResponseStore.put`; `summary` and `flush` see it at once."""

    def record(self, row: UsageRecord) -> None: ...

    def uncommitted_tokens(self, key_id: str, minute: int) -> tuple[int, int]:
        """Tokens of a counted key's rows (`counted_minute` set) that this process has
        not committed yet: in `minute`, and in all."""
        ...

    @property
    def commits(self) -> int:
        """How many batches of counted tokens this process has committed: a count read
        from the database while it changed may or may not hold the batch, which is no
        longer among the uncommitted tokens (polyrelay.limits reads it again then)."""
        ...

    def flush(self) -> None:
        """Commit every parked row now, on the calling thread. When the database is
        unreachable the rows stay parked for the writer thread (still counted by
        `summary` and the limits) and how many is logged (what a shutdown that ends now
        loses); nothing is raised, since a shutdown hook that calls this is one of
        several. Any other error is raised."""
        ...

    def summary(
        self,
        *,
        group_by: GroupBy = "model",
        key_id: str | None = None,
        model: str | None = None,
        since: int | None = None,
    ) -> list[UsageGroup]:
        """Requests, tokens and cost per group; `since` is a Unix time (inclusive)."""
        ...


class StoreCall(Protocol):
    """How code on the event loop makes a store call (`Database.call`)."""

    async def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...


async def call_at_once(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """A StoreCall for stores that never wait on a server (in-memory ones, tests)."""
    return fn(*args, **kwargs)


class Database(Protocol):
    """One open database and the stores on it. Call `close` once, at shutdown."""

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call made on the event loop: at once where the database is a local
        file; where each call is a round trip to a server, so that the loop serves other
        requests while it waits."""
        ...

    async def call_off_loop(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A store call that holds the database long (a whole Message Batch's insert),
        made on the event loop without holding it: in a thread on SQLite (the loop's
        other store calls wait for it there too), as `call` on PostgreSQL."""
        ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def tasks(self) -> TaskStore: ...

    @property
    def responses(self) -> ResponseStore: ...

    @property
    def response_events(self) -> ResponseEventLog: ...

    @property
    def batches(self) -> BatchStore: ...

    @property
    def usage(self) -> UsageStore: ...

    def submit_background(
        self, response: StoredResponse, events: list[RecordedEvent], task: NewTask
    ) -> None:
        """Commit a background response's `queued` Response, its first `events` (none
        when not streamed) and its `task` in one transaction, or raise with none of them
        stored (polyrelay.storage.submission)."""
        ...

    def close(self) -> None: ...


def describe_database(url: str) -> str:
    """What `url` opens, for banners and reports; never its password."""
    if url.startswith("sqlite:///"):
        return f"SQLite {url.removeprefix('sqlite:///')}"
    if is_postgres_url(url):
        from polyrelay.storage.postgres import describe

        return f"PostgreSQL {describe(url)}"
    return url.split("://")[0]


class DatabaseSettings(Protocol):
    """What the config says of the database (polyrelay.settings.Settings has it)."""

    @property
    def database(self) -> str: ...

    @property
    def database_pool_mode(self) -> PoolMode: ...


def open_configured(settings: DatabaseSettings) -> Database:
    """The configured database, opened as `open_database` does."""
    return open_database(settings.database, pool_mode=settings.database_pool_mode)


def open_database(
    url: str, *, clock: Callable[[], float] = time.time, pool_mode: PoolMode = "session"
) -> Database:
    """Open (creating and migrating as needed) the database at `url`.

    Accepted: `sqlite:///relative/path`, `sqlite:////absolute/path`, `sqlite:///:memory:`,
    and a libpq URI, `postgresql://user:password@host:port/database?...`, for several
    replicas on one database. `pool_mode` matters on PostgreSQL only.
    """
    if url.startswith("sqlite:///"):
        from polyrelay.storage.sqlite import SqliteDatabase

        return SqliteDatabase.open(url.removeprefix("sqlite:///"), clock=clock)
    if is_postgres_url(url):
        from polyrelay.storage.postgres import PostgresDatabase

        return PostgresDatabase.open(url, clock=clock, pool_mode=pool_mode)
    raise StorageError(
        f"unsupported database URL {url.split('://')[0]!r}: expected sqlite:///path/to/file.db"
        " (relative to the working directory), sqlite:////absolute/path.db or"
        " postgresql://user:password@host:port/database"
    )
