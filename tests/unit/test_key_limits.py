"""Per-key limits: the SQLite counters (shared by every process on the file), the usage
writer's token counts, the migration, and the limiter's decisions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyrelay.errors import AuthenticationError, RateLimitError
from polyrelay.limits import KeyLimiter, check_expiry
from polyrelay.storage import ApiKey, KeyLimits, UsageRecord
from polyrelay.storage.migrations import MIGRATIONS, migrate
from polyrelay.storage.sqlite import SqliteDatabase

NOW = 1_699_999_990.0  # 10 s into a minute
MINUTE = int(NOW) // 60


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "limits.db"


@pytest.fixture
def database(path: Path) -> Iterator[SqliteDatabase]:
    opened = SqliteDatabase.open(str(path), clock=lambda: NOW)
    yield opened
    opened.close()


def key_with(database: SqliteDatabase, **limits: int) -> ApiKey:
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


def test_the_request_count_is_shared_by_every_process_on_the_file(
    database: SqliteDatabase, path: Path
) -> None:
    key = key_with(database, rpm=5)
    other = SqliteDatabase.open(str(path), clock=lambda: NOW)  # as another worker would
    try:
        assert database.keys.admit(key.id, MINUTE).requests == 1
        assert other.keys.admit(key.id, MINUTE).requests == 2
        other.keys.refund(key.id, MINUTE)
        assert database.keys.admit(key.id, MINUTE).requests == 2
        assert database.keys.admit(key.id, MINUTE + 1).requests == 1  # a new minute
    finally:
        other.close()


def test_the_usage_writer_counts_the_tokens_of_counted_keys_only(
    database: SqliteDatabase,
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


def test_old_minutes_are_forgotten(database: SqliteDatabase, path: Path) -> None:
    key = key_with(database, rpm=5)
    database.keys.admit(key.id, MINUTE - 10)
    database.keys.admit(key.id, MINUTE)
    with sqlite3.connect(path) as conn:
        minutes = conn.execute("SELECT minute FROM key_minutes WHERE key_id = ?", (key.id,))
        assert [row[0] for row in minutes] == [MINUTE]


def test_keys_made_before_the_migration_have_no_limits(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    names = [name for name, _ in MIGRATIONS]
    migrate(conn, 1, MIGRATIONS[: names.index("0005_inline_input_items") + 1])
    conn.execute(
        "INSERT INTO api_keys (id, name, prefix, secret_hash, models, created_at)"
        " VALUES ('key_old', 'old', 'sk-old', 'h', NULL, 1)"
    )
    conn.close()
    opened = SqliteDatabase.open(str(path), clock=lambda: NOW)
    try:
        [old] = opened.keys.list()
        assert old.limits == KeyLimits() and not old.limits.counted
    finally:
        opened.close()


def limiter(database: SqliteDatabase) -> KeyLimiter:
    return KeyLimiter(database.keys, database.usage, lambda: NOW)


def test_rpm_refuses_with_the_seconds_to_the_next_minute_and_does_not_count_it(
    database: SqliteDatabase,
) -> None:
    key = key_with(database, rpm=1)
    limiter(database).admit(key)
    with pytest.raises(RateLimitError) as info:
        limiter(database).admit(key)
    assert info.value.retry_after == "50" and info.value.code == "rate_limit_exceeded"
    assert database.keys.admit(key.id, MINUTE).requests == 2  # the refused one was not kept


def test_tpm_counts_this_process_uncommitted_tokens(database: SqliteDatabase) -> None:
    key = key_with(database, tpm=10)
    limiter(database).admit(key)
    database.usage.record(used(key, 10))  # parked, not committed
    with pytest.raises(RateLimitError, match="10 tokens per minute"):
        limiter(database).admit(key)


def test_a_spent_budget_is_insufficient_quota_without_retry_after(
    database: SqliteDatabase,
) -> None:
    key = key_with(database, token_budget=20, rpm=100)
    database.usage.record(used(key, 15, MINUTE - 30))
    database.usage.flush()
    limiter(database).admit(key)
    database.usage.record(used(key, 5))
    with pytest.raises(RateLimitError) as info:
        limiter(database).admit(key)
    assert info.value.code == "insufficient_quota" and info.value.retry_after is None


def test_a_key_without_counted_limits_touches_no_counter(database: SqliteDatabase) -> None:
    key = key_with(database, expires_at=int(NOW) + 60)
    for _ in range(3):
        limiter(database).admit(key)
    assert database.keys.admit(key.id, MINUTE).requests == 1


def test_expiry() -> None:
    key = ApiKey(id="k", name="n", prefix="sk-abc", created_at=0, limits=KeyLimits(expires_at=100))
    check_expiry(key, 99.9)
    with pytest.raises(AuthenticationError, match=r"sk-abc\.\.\. expired at 1970-01-01 00:01"):
        check_expiry(key, 100)
