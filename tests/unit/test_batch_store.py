"""The batch store on both backends: newest-first pages both ways, key scope, a state
derived from the batch's tasks, results in custom_id order, and the purge of old batches."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest
from tests.backends import is_postgres, query

from polyrelay.storage import ApiKey, Database, open_database
from polyrelay.storage.batches import _PURGEABLE, KEPT_SECONDS, PURGE_CHUNK, BatchRow
from polyrelay.storage.postgres import translate
from polyrelay.tasks.model import NewTask, TaskError, TaskKind
from polyrelay.tasks.runner import Outcome
from polyrelay.tasks.settings import TasksSettings
from polyrelay.tasks.worker import TaskWorker

KEY = ApiKey(id="k1", name="k1", prefix="", created_at=0)


def task(task_id: str) -> NewTask:
    return NewTask(
        id=task_id, kind=TaskKind.BATCH, key=KEY, endpoint="/v1/messages", request_id="r",
        model="m", body=b"{}", headers={}, callback_url=None, created_at=0,
    )  # fmt: skip


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url, clock=lambda: 1000.0)
    yield opened
    opened.close()


def test_pages_scope_and_state(database: Database) -> None:
    store = database.batches
    for n in range(3):
        batch = BatchRow(id=f"b{n}", key_id="k1", created_at=n, expires_at=n + 1)
        store.create(batch, [(f"c{n}", task(f"t{n}a")), (f"d{n}", task(f"t{n}b"))])
    assert [b.id for b in store.page("k1", 2, None, None)] == ["b2", "b1"]
    assert [b.id for b in store.page("k1", 2, "b1", None)] == ["b0"]
    assert [b.id for b in store.page("k1", 5, None, "b0")] == ["b2", "b1"]
    assert store.page("k2", 5, None, None) == [] and store.get("b0", "k2") is None
    assert store.state("b0").counts == {"pending": 2} and store.state("b0").ended_at is None
    claimed = database.tasks.claim("w", 30)
    assert claimed is not None and database.tasks.complete(claimed.id, "w", b'{"ok":1}')
    running = database.tasks.claim("w", 30)
    assert running is not None and running.id == "t0b"
    assert store.cancel("b0", 1000.0) == ["t0b"]  # the runs to stop
    assert store.cancel("b1", 1000.0) == []  # pending: cancelled, with no run to stop
    assert store.state("b1").counts == {"cancelled": 2}
    state = store.state("b0")
    assert state.counts == {"success": 1, "cancelled": 1} and state.ended_at == 1000
    outcomes = {r.custom_id: (r.status, r.result) for r in store.results("b0")}
    assert outcomes == {"c0": ("success", b'{"ok":1}'), "d0": ("cancelled", None)}
    store.delete("b0")
    assert store.get("b0", "k1") is None and database.tasks.get("t0a") is None


def test_results_page_in_byte_order_of_custom_id(database: Database) -> None:
    # More than a page (500), with ids whose order depends on the collation.
    custom_ids = ["b", "B", "a-1", "a_1", "A", "z", "é", "0", *(f"r{n}" for n in range(600))]
    requests = [(custom_id, task(f"t_{n}")) for n, custom_id in enumerate(custom_ids)]
    database.batches.create(BatchRow(id="b", key_id="k1", created_at=0, expires_at=1), requests)
    results = list(database.batches.results("b"))
    assert [r.custom_id for r in results] == sorted(custom_ids, key=str.encode)
    assert {r.status for r in results} == {"pending"} and results[0].result is None


def test_a_batch_ends_at_its_expiry_or_when_its_last_running_request_ends(
    database: Database,
) -> None:
    store = database.batches
    batch = BatchRow(id="b", key_id="k1", created_at=0, expires_at=500)
    store.create(batch, [("a", task("ta")), ("b", task("tb"))])
    running = database.tasks.claim("w", 30)
    assert running is not None
    assert store.expire_overdue(batch, 900.0) == 1
    assert store.state("b").ended_at is None  # one request still runs
    assert database.tasks.complete(running.id, "w", b"{}")  # at the clock's 1000
    state = store.state("b")
    assert state.counts == {"expired": 1, "success": 1} and state.ended_at == 1000


def test_requests_not_started_when_their_batch_expires_end_expired(database: Database) -> None:
    store = database.batches
    overdue = [(c, task(f"t{c}")) for c in ("a", "b", "c")]
    old = BatchRow(id="old", key_id="k1", created_at=0, expires_at=500)
    store.create(old, overdue)
    later = BatchRow(id="new", key_id="k1", created_at=0, expires_at=5000)
    store.create(later, [("a", task("tn"))])
    theirs = BatchRow(id="theirs", key_id="k2", created_at=0, expires_at=500)
    store.create(theirs, [("a", task("tx"))])
    claimed = [database.tasks.claim("w", 30) for _ in range(5)]
    running = {t.id: t for t in claimed if t is not None}
    assert set(running) == {"ta", "tb", "tc", "tn", "tx"}
    for other in ("tb", "tc", "tx"):  # back to pending, as a retry would leave them
        database.tasks.retry(other, "w", 0, TaskError(type="x", message="busy", status=529))
    assert store.expire_overdue(later, 1000.0) == 0  # hours left: untouched
    assert store.expire_overdue(old, 1000.0) == 2
    assert store.state("old").counts == {"processing": 1, "expired": 2}
    assert store.state("old").ended_at is None  # the running request runs to its end
    assert store.state("theirs").counts == {"pending": 1}  # another key's batch: untouched
    assert store.expire_claimed("tn", 1000.0) is False  # its batch has hours left
    assert store.expire_claimed("ta", 1000.0) is True
    state = store.state("old")
    # Noticed at 1000, but they ended when the batch expired (as Anthropic's ended_at).
    assert state.counts == {"expired": 3} and state.ended_at == 500
    assert {r.status for r in store.results("old")} == {"expired"}
    assert (
        database.tasks.purge(finished_before=2000.0, limit=10) == 3
    )  # expired tasks are purgeable
    assert store.state("old").counts == {"missing": 3}


def test_a_batch_whose_tasks_are_purged_has_still_ended(database: Database) -> None:
    store = database.batches
    store.create(
        BatchRow(id="b", key_id="k1", created_at=0, expires_at=500),
        [("a", task("ta")), ("b", task("tb"))],
    )
    for _ in range(2):
        claimed = database.tasks.claim("w", 30)
        assert claimed is not None and database.tasks.complete(claimed.id, "w", b"{}")
    assert store.state("b").ended_at == 1000
    assert database.tasks.purge(finished_before=2000.0, limit=10) == 2
    state = store.state("b")  # purged results read expired, as if they ended at expiry
    assert state.counts == {"missing": 2} and state.ended_at == 500
    assert {r.status for r in store.results("b")} == {"missing"}


def test_ended_batches_made_before_the_cutoff_are_purged_a_chunk_at_a_time(
    database: Database, database_url: str
) -> None:
    store = database.batches
    store.create(
        BatchRow(id="running", key_id="k1", created_at=0, expires_at=5), [("a", task("tr"))]
    )
    assert (claimed := database.tasks.claim("w", 30)) is not None and claimed.id == "tr"
    store.create(
        BatchRow(id="old", key_id="k1", created_at=0, expires_at=5),
        [("a", task("to1")), ("b", task("to2")), ("c", task("to3"))],
    )
    store.create(BatchRow(id="new", key_id="k1", created_at=20, expires_at=25), [("a", task("tn"))])
    store.cancel("old", 1000.0)
    store.cancel("new", 1000.0)
    # Two request rows a call, then the batch left with none; then nothing.
    assert [store.purge(10, 2) for _ in range(3)] == [2, 2, 0]
    assert store.get("old", "k1") is None
    assert [database.tasks.get(t) for t in ("to1", "to2", "to3")] == [None, None, None]
    requests = "SELECT batch_id FROM message_batch_requests ORDER BY batch_id"
    assert query(database_url, requests) == [("new",), ("running",)]
    # A request still running keeps its batch; a batch made after the cutoff stays.
    assert store.get("running", "k1") is not None and database.tasks.get("tr") is not None
    assert store.state("new").counts == {"cancelled": 1}


def test_the_task_workers_purge_deletes_batches_29_days_after_their_creation(
    database: Database,
) -> None:
    now = 100 * 86_400.0
    for name, age in (("kept", KEPT_SECONDS - 60), ("gone", KEPT_SECONDS + 60)):
        requests = [(f"c{n}", task(f"{name}{n}")) for n in range(PURGE_CHUNK + 1)]
        made = now - age
        database.batches.create(
            BatchRow(id=name, key_id="k1", created_at=made, expires_at=made + 86_400), requests
        )
        database.batches.cancel(name, made)

    async def never(_: object) -> Outcome:
        raise AssertionError("no task is pending")

    async def sweep() -> None:
        worker = TaskWorker(
            database.tasks, TasksSettings(workers=1), never, lambda: now, batches=database.batches
        )
        await worker.start()
        try:
            for _ in range(500):
                if database.batches.get("gone", "k1") is None:
                    break
                await asyncio.sleep(0.01)
        finally:
            await worker.stop()

    asyncio.run(sweep())
    assert database.batches.get("gone", "k1") is None
    assert database.batches.get("kept", "k1") is not None
    assert len(list(database.batches.results("kept"))) == PURGE_CHUNK + 1


def test_the_purge_finds_old_batches_by_the_index_on_their_creation(
    database: Database, database_url: str
) -> None:
    """Without message_batches_by_created, every purge call read every batch."""
    statement = f"SELECT batch_id FROM message_batch_requests WHERE batch_id IN ({_PURGEABLE})"
    if is_postgres(database_url):  # a table this small is read whole unless told not to
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            rows = conn.execute(translate(f"EXPLAIN {statement}"), (10.0,)).fetchall()
        plan = " | ".join(row[0] for row in rows)
    else:
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", (10.0,)).fetchall()
        plan = " | ".join(row[3] for row in rows)
    assert "message_batches_by_created" in plan
