"""The TaskStore on both backends: guarded transitions shared by several processes,
leases, purge, webhook deliveries and the stored secret."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.backends import query
from tests.unit.conftest import FakeClock, run_then_close

from polyrelay.storage import ApiKey, Database, open_database
from polyrelay.tasks.model import NewTask, TaskError, TaskKind, TaskStatus

KEY = ApiKey(id="static:ci", name="ci", prefix="", created_at=0)
ERROR = TaskError(type="api_error", message="boom", status=503)


def new_task(task_id: str, callback: str | None = None, key: ApiKey = KEY) -> NewTask:
    return NewTask(
        id=task_id,
        kind=TaskKind.TASK,
        key=key,
        endpoint="/v1/messages",
        request_id="req_" + task_id,
        model="claude-sonnet-4-5",
        body=b'{"messages": "hi"}',
        headers={"anthropic-beta": "x"},
        callback_url=callback,
        created_at=1_700_000_000,
    )


def test_enqueue_then_get_round_trips(database: Database) -> None:
    database.tasks.enqueue(new_task("task_1", "https://example.com/hook"))
    task = database.tasks.get("task_1")
    assert task is not None
    assert (task.status, task.attempts, task.completions) == (TaskStatus.PENDING, 0, 0)
    assert task.key == KEY and task.headers == {"anthropic-beta": "x"}
    assert task.body == b'{"messages": "hi"}'
    assert database.tasks.get("task_2") is None


def test_two_processes_never_claim_the_same_task(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    other = open_database(database_url, clock=clock)
    try:
        database.tasks.enqueue(new_task("task_1"))
        first = database.tasks.claim("a", 30)
        second = other.tasks.claim("b", 30)
        assert first is not None and first.id == "task_1" and first.attempts == 1
        assert second is None
        assert not other.tasks.complete("task_1", "b", b"{}")
        assert database.tasks.complete("task_1", "a", b'{"ok": true}')
        assert not database.tasks.complete("task_1", "a", b"{}")  # idempotent: stored once
    finally:
        other.close()
    task = database.tasks.get("task_1")
    assert task is not None and task.completions == 1 and task.result == b'{"ok": true}'


def test_an_expired_lease_makes_the_task_claimable_again(
    database: Database, clock: FakeClock
) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1"))
    assert store.claim("dead", 10) is not None
    clock.now += 5
    assert store.claim("alive", 10) is None
    assert store.renew("task_1", "dead", 10) is True  # a heartbeat keeps it
    clock.now += 11
    again = store.claim("alive", 10)
    assert again is not None and again.attempts == 2
    assert not store.complete("task_1", "dead", b"{}")  # the old holder cannot end it
    assert store.fail("task_1", "alive", ERROR)
    task = store.get("task_1")
    assert task is not None and task.status is TaskStatus.FAILED and task.error == ERROR


def test_retry_waits_for_not_before(database: Database, clock: FakeClock) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1"))
    assert store.claim("w", 10) is not None
    assert store.retry("task_1", "w", clock.now + 2, ERROR)
    assert store.claim("w", 10) is None
    clock.now += 2
    claimed = store.claim("w", 10)
    assert claimed is not None and claimed.attempts == 2


def test_cancel_ends_pending_and_processing_tasks_only(database: Database) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1"))
    store.enqueue(new_task("task_2"))
    assert store.cancel("task_1")
    claimed = store.claim("w", 10)
    assert claimed is not None and claimed.id == "task_2"
    assert store.cancel("task_2")
    assert not store.renew("task_2", "w", 10)  # the worker learns of it at its heartbeat
    assert not store.complete("task_2", "w", b"{}")
    assert not store.cancel("task_2")


def test_list_is_per_key_newest_first(database: Database) -> None:
    other = ApiKey(id="key_other", name="o", prefix="", created_at=0)
    for n in range(4):
        database.tasks.enqueue(new_task(f"task_{n}"))
    database.tasks.enqueue(new_task("task_x", key=other))
    page = database.tasks.list(KEY.id, 2, None)
    assert [t.id for t in page] == ["task_3", "task_2"]
    assert [t.id for t in database.tasks.list(KEY.id, 5, "task_2")] == ["task_1", "task_0"]
    assert [t.id for t in database.tasks.list("key_other", 5, None)] == ["task_x"]


def test_purge_keeps_tasks_with_pending_webhooks(database: Database, clock: FakeClock) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1"))
    store.enqueue(new_task("task_2", "https://example.com/hook"))
    for _ in range(2):
        claimed = store.claim("w", 10)
        assert claimed is not None
        store.complete(claimed.id, "w", b"{}")
    clock.now += 100
    assert store.purge(clock.now - 50, 10) == 1
    assert store.get("task_1") is None and store.get("task_2") is not None
    delivery = store.claim_delivery("w", 10)
    assert delivery is not None and delivery.task_id == "task_2" and delivery.attempts == 1
    store.delivery_done(delivery.id, "w", None)
    assert store.purge(clock.now - 50, 10) == 1


def test_purge_deletes_a_chunk_of_tasks_a_call(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    """A backlog of finished tasks goes `limit` a transaction (one write of them all held
    the write lock throughout), with their delivered webhooks; the same tasks as before."""
    store = database.tasks
    for n in range(7):  # purgeable: three of them with a delivered webhook
        store.enqueue(new_task(f"task_{n}", "https://example.com/hook" if n < 3 else None))
        assert store.cancel(f"task_{n}")
    store.enqueue(new_task("task_deleted", "https://example.com/hook"))
    assert store.cancel("task_deleted") and store.delete("task_deleted", KEY.id)
    while (delivery := store.claim_delivery("w", 10)) is not None:
        store.delivery_done(delivery.id, "w", None)
    store.enqueue(new_task("task_hook", "https://example.com/hook"))
    assert store.cancel("task_hook")  # its webhook not delivered yet: kept
    store.enqueue(new_task("task_pending"))  # not ended: kept
    clock.now += 100
    store.enqueue(new_task("task_late"))
    assert store.cancel("task_late")  # ended after the cutoff: kept
    assert [store.purge(clock.now - 50, 3) for _ in range(4)] == [3, 3, 1, 0]
    kept = query(database_url, "SELECT id FROM tasks ORDER BY id")
    assert kept == [("task_hook",), ("task_late",), ("task_pending",)]
    webhooks = query(database_url, "SELECT task_id, status FROM task_webhooks")
    assert webhooks == [("task_hook", "pending")]  # the deleted task's went too, as before


def test_purge_finds_a_chunks_webhooks_by_task_on_sqlite(tmp_path: Path) -> None:
    """Without task_webhooks_by_task, each chunk read every webhook (200,000 finished
    tasks with webhooks: 48 ms a chunk of 500, 9.6 s in all; 8 ms and 1.3 s with it)."""
    database = open_database(f"sqlite:///{tmp_path / 'plan.db'}", clock=lambda: 0.0)
    try:
        sql = "DELETE FROM task_webhooks WHERE task_id = ? AND status != 'pending'"
        plan = database.tasks._conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("t",)).fetchall()
    finally:
        database.close()
    assert [row[3] for row in plan] == [
        "SEARCH task_webhooks USING INDEX task_webhooks_by_task (task_id=?)"
    ]


def test_delete_takes_the_keys_task_and_keeps_its_pending_webhook_body(
    database: Database,
) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1", "https://example.com/hook"))
    assert store.cancel("task_1")  # ended: its webhook is queued
    assert not store.delete("task_1", "key_other")  # another key's task is unknown
    assert store.get("task_1") is not None
    assert store.delete("task_1", KEY.id)
    assert store.get("task_1") is None and not store.delete("task_1", KEY.id)
    delivery = store.claim_delivery("w", 10)  # the "cancelled" is still owed
    assert delivery is not None and delivery.task_id == "task_1" and delivery.body
    sent = json.loads(delivery.body)
    assert (sent["id"], sent["status"]) == ("task_1", "cancelled")
    assert "result" not in sent and "error" not in sent


def test_webhook_delivery_retries_with_the_same_id(database: Database, clock: FakeClock) -> None:
    store = database.tasks
    store.enqueue(new_task("task_1", "https://example.com/hook"))
    assert store.cancel("task_1")
    first = store.claim_delivery("w", 10)
    assert first is not None
    assert store.claim_delivery("w2", 10) is None  # leased
    store.delivery_retry(first.id, "w", clock.now + 5, "HTTP 500")
    assert store.claim_delivery("w", 10) is None
    clock.now += 5
    second = store.claim_delivery("w", 10)
    assert second is not None and second.id == first.id and second.attempts == 2


def test_a_delivery_made_after_a_failure_keeps_no_error(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    store = database.tasks
    for task_id in ("task_1", "task_2"):
        store.enqueue(new_task(task_id, "https://example.com/hook"))
        assert store.cancel(task_id)
    errors = "SELECT task_id, status, last_error FROM task_webhooks ORDER BY task_id"
    for _ in range(2):  # each fails once
        failed = store.claim_delivery("w", 10)
        assert failed is not None
        store.delivery_retry(failed.id, "w", clock.now + 5, "HTTP 500")
    clock.now += 5
    for _ in range(2):  # then task_1's is delivered, task_2's given up
        again = store.claim_delivery("w", 10)
        assert again is not None
        store.delivery_done(again.id, "w", None if again.task_id == "task_1" else "HTTP 503")
    assert query(database_url, errors) == [
        ("task_1", "delivered", None),
        ("task_2", "failed", "HTTP 503"),  # why it was given up: its last attempt's error
    ]


def test_secret_is_generated_once(database: Database) -> None:
    first = database.tasks.secret("webhook_secret", lambda: "one")
    assert database.tasks.secret("webhook_secret", lambda: "two") == first == "one"


def test_concurrent_claimers_take_every_task_exactly_once(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    """Four processes' workers claim at once: each of the 100 tasks goes to one of them,
    and none gives up while a task is pending (on PostgreSQL, a claim passes the rows
    other claims hold with FOR UPDATE SKIP LOCKED; without it, it would find nothing)."""
    workers, per_worker = 4, 25
    for n in range(workers * per_worker):
        database.tasks.enqueue(new_task(f"task_{n:03d}"))
    claimed: list[list[str]] = [[] for _ in range(workers)]
    failures: list[BaseException] = []
    opened = [open_database(database_url, clock=clock) for _ in range(workers)]
    start = threading.Barrier(workers)

    def work(index: int) -> None:
        store = opened[index].tasks
        try:
            start.wait()
            while (task := store.claim(f"w{index}", 30)) is not None:
                claimed[index].append(task.id)
                if not store.complete(task.id, f"w{index}", b"{}"):
                    raise AssertionError(f"{task.id} was not w{index}'s to complete")
            # Nothing was pending when the claim found nothing: a claim that met a task
            # another claimer held must take the next one, not give up.
            (pending,) = query(
                database_url, "SELECT COUNT(*) FROM tasks WHERE status = ?", ("pending",)
            )
            if pending != (0,):
                raise AssertionError(f"w{index} stopped with {pending[0]} tasks pending")
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    run_then_close(threads, opened)
    assert failures == [] and not any(thread.is_alive() for thread in threads)
    everything = [task_id for ids in claimed for task_id in ids]
    assert sorted(everything) == [f"task_{n:03d}" for n in range(workers * per_worker)]
    for n in (0, 57, 99):
        task = database.tasks.get(f"task_{n:03d}")
        assert task is not None and task.status is TaskStatus.SUCCESS
        assert (task.attempts, task.completions) == (1, 1)


def test_claims_take_the_oldest_claimable_task_first(database: Database, clock: FakeClock) -> None:
    """Pending, expired and waiting tasks mixed: each claim takes the lowest `seq` among the
    pending ones due and the runs whose lease ran out, as one queue."""
    store = database.tasks
    for n in range(1, 6):
        store.enqueue(new_task(f"task_{n}"))
    first, second = store.claim("dead", 10), store.claim("w", 10)
    assert first is not None and second is not None
    assert (first.id, second.id) == ("task_1", "task_2")
    assert store.retry("task_2", "w", clock.now + 100, ERROR)  # waits: not claimable yet
    clock.now += 11  # task_1's lease ran out
    order = []
    while (task := store.claim("w", 1000)) is not None:
        order.append(task.id)
    assert order == ["task_1", "task_3", "task_4", "task_5"]
    clock.now += 100
    again = store.claim("w", 1000)
    assert again is not None and again.id == "task_2"


def test_a_claim_on_sqlite_walks_the_queue_in_order_and_sorts_nothing(tmp_path: Path) -> None:
    """With a full Message Batch queued (100,000 tasks), one OR over pending and expired runs
    made SQLite gather and sort every pending task: 12 ms of the event loop a claim."""
    database = open_database(f"sqlite:///{tmp_path / 'plan.db'}", clock=lambda: 0.0)
    try:
        store = database.tasks
        params = {"worker": "w", "until": 1.0, "now": 0.0, "started": 0}
        plan = " | ".join(
            row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {store._claim_sql}", params)
        )
    finally:
        database.close()
    assert "TEMP B-TREE" not in plan
    assert plan.count("USING INDEX tasks_claim_order") == 2
