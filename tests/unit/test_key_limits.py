"""Per-key limits: the counters (shared by every process on the database, on both
backends), the usage writer's token counts, SQLite's migration, and the limiter's
decisions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.backends import query
from tests.unit.conftest import run_then_close

from polyrelay.errors import AuthenticationError, RateLimitError
from polyrelay.limits import KeyLimiter, check_expiry
from polyrelay.storage import ApiKey, Database, KeyLimits, UsageRecord, open_database
from polyrelay.storage.migrations import MIGRATIONS, migrate

NOW = 1_699_999_990.0  # 10 s into a minute
MINUTE = int(NOW) // 60


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url, clock=lambda: NOW)
    yield opened
    opened.close()


def key_with(database: Database, **limits: int) -> ApiKey:
    key, _ = database.keys.create("k", None, KeyLimits(**limits))
    return key


def used(key: ApiKey, tokens: int, minute: int = MINUTE) -> UsageRecord:
    return UsageRecord(
        id=f"req_{tokens}_{minute}",
        key_id=key.id,
        model="m",
        provider="p",
        created_at=minute * 60,
        input_tokens=tokens - 1,
        output_tokens=1,
        counted_minute=minute,
    )


def test_the_request_count_is_shared_by_every_process_on_the_database(
    database: Database, database_url: str
) -> None:
    key = key_with(database, rpm=5)
    other = open_database(database_url, clock=lambda: NOW)  # as another worker would
    try:
        assert database.keys.admit(key.id, MINUTE).requests == 1
        assert other.keys.admit(key.id, MINUTE).requests == 2
        other.keys.refund(key.id, MINUTE)
        assert database.keys.admit(key.id, MINUTE).requests == 2
        assert database.keys.admit(key.id, MINUTE + 1).requests == 1  # a new minute
    finally:
        other.close()


def test_concurrent_admits_of_several_processes_each_count_once(
    database: Database, database_url: str
) -> None:
    key = key_with(database, rpm=1000)
    opened = [open_database(database_url, clock=lambda: NOW) for _ in range(4)]
    counts: list[int] = []
    start = threading.Barrier(len(opened))

    def admit(other: Database) -> None:
        start.wait()
        counts.extend(other.keys.admit(key.id, MINUTE).requests for _ in range(25))

    threads = [threading.Thread(target=admit, args=(other,)) for other in opened]
    run_then_close(threads, opened)
    assert sorted(counts) == list(range(1, 101))  # each request saw its own count


def test_the_usage_writer_counts_the_tokens_of_counted_keys_only(
    database: Database,
) -> None:
    counted, free = key_with(database, tpm=100), key_with(database)
    database.usage.record(used(counted, 7))
    database.usage.record(used(counted, 5, MINUTE - 1))
    uncounted = UsageRecord(id="r", key_id=free.id, model="m", provider="p", created_at=0)
    database.usage.record(uncounted)
    assert database.usage.uncommitted_tokens(counted.id, MINUTE) == (7, 12)
    database.usage.flush()
    assert database.usage.uncommitted_tokens(counted.id, MINUTE) == (0, 0)
    window = database.keys.admit(counted.id, MINUTE)
    assert (window.minute_tokens, window.total_tokens) == (7, 12)
    assert database.keys.admit(free.id, MINUTE).total_tokens == 0


def test_old_minutes_are_forgotten(database: Database, database_url: str) -> None:
    key = key_with(database, rpm=5)
    database.keys.admit(key.id, MINUTE - 10)
    database.keys.admit(key.id, MINUTE)
    minutes = query(database_url, "SELECT minute FROM key_minutes WHERE key_id = ?", (key.id,))
    assert minutes == [(MINUTE,)]


def test_the_writers_of_two_processes_add_up_their_tokens(
    database: Database, database_url: str
) -> None:
    key = key_with(database, tpm=1000, token_budget=10_000)
    other = open_database(database_url, clock=lambda: NOW)
    try:
        database.usage.record(used(key, 7))
        other.usage.record(used(key, 5))
        other.usage.record(used(key, 3, MINUTE - 1))
        database.usage.flush()
        other.usage.flush()
    finally:
        other.close()
    window = database.keys.admit(key.id, MINUTE)
    assert (window.minute_tokens, window.total_tokens) == (12, 15)


def test_keys_made_before_the_migration_have_no_limits(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    conn = sqlite3.connect(path, isolation_level=None)
    names = [name for name, _ in MIGRATIONS]
    migrate(conn, 1, MIGRATIONS[: names.index("0005_inline_input_items") + 1])
    conn.execute(
        "INSERT INTO api_keys (id, name, prefix, secret_hash, models, created_at)"
        " VALUES ('key_old', 'old', 'sk-old', 'h', NULL, 1)"
    )
    conn.close()
    opened = open_database(f"sqlite:///{path}", clock=lambda: NOW)
    try:
        [old] = opened.keys.list()
        assert old.limits == KeyLimits() and not old.limits.counted
    finally:
        opened.close()


def admit(limiter: KeyLimiter, key: ApiKey) -> None:
    asyncio.run(limiter.admit(key))


def limiter(database: Database) -> KeyLimiter:
    return KeyLimiter(database.keys, database.usage, lambda: NOW)


def test_rpm_refuses_with_the_seconds_to_the_next_minute_and_does_not_count_it(
    database: Database,
) -> None:
    key = key_with(database, rpm=1)
    admit(limiter(database), key)
    with pytest.raises(RateLimitError) as info:
        admit(limiter(database), key)
    assert info.value.retry_after == "50" and info.value.code == "rate_limit_exceeded"
    assert database.keys.admit(key.id, MINUTE).requests == 2  # the refused one was not kept


def test_tpm_counts_this_process_uncommitted_tokens(database: Database) -> None:
    key = key_with(database, tpm=10)
    admit(limiter(database), key)
    database.usage.record(used(key, 10))  # parked, not committed
    with pytest.raises(RateLimitError, match="10 tokens per minute"):
        admit(limiter(database), key)


def test_a_spent_budget_is_insufficient_quota_without_retry_after(
    database: Database,
) -> None:
    key = key_with(database, token_budget=20, rpm=100)
    database.usage.record(used(key, 15, MINUTE - 30))
    database.usage.flush()
    admit(limiter(database), key)
    database.usage.record(used(key, 5))
    with pytest.raises(RateLimitError) as info:
        admit(limiter(database), key)
    assert info.value.code == "insufficient_quota" and info.value.retry_after is None


def test_a_key_without_counted_limits_touches_no_counter(database: Database) -> None:
    key = key_with(database, expires_at=int(NOW) + 60)
    for _ in range(3):
        admit(limiter(database), key)
    assert database.keys.admit(key.id, MINUTE).requests == 1


def test_expiry() -> None:
    key = ApiKey(id="k", name="n", prefix="sk-abc", created_at=0, limits=KeyLimits(expires_at=100))
    check_expiry(key, 99.9)
    with pytest.raises(AuthenticationError, match=r"sk-abc\.\.\. expired at 1970-01-01 00:01"):
        check_expiry(key, 100)
