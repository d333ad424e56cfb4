"""`KeyLimiter.check_tokens`, which queued work (async tasks, background responses) meets
when it runs: the key's token limits, with its committed and uncommitted tokens, and no
request counted. On both backends (KeyStore.window is one statement on each)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from tests.unit.test_key_limits import MINUTE, NOW, key_with, used  # the same clock and rows

from polyrelay.errors import RateLimitError
from polyrelay.limits import KeyLimiter
from polyrelay.storage import ApiKey, Database, open_database

T = TypeVar("T")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url, clock=lambda: NOW)
    yield opened
    opened.close()


def check(database: Database, key: ApiKey) -> None:
    asyncio.run(KeyLimiter(database.keys, database.usage, lambda: NOW).check_tokens(key))


def test_a_spent_budget_refuses_committed_or_not(database: Database) -> None:
    key = key_with(database, token_budget=10, rpm=1)
    check(database, key)  # nothing used yet; and no request counted (rpm 1 stays free)
    database.usage.record(used(key, 6, MINUTE - 5))
    database.usage.flush()
    check(database, key)
    database.usage.record(used(key, 4))  # parked, not committed
    with pytest.raises(RateLimitError, match="token budget") as info:
        check(database, key)
    assert info.value.code == "insufficient_quota"
    assert database.keys.admit(key.id, MINUTE).requests == 1  # the checks counted none


def test_a_spent_minute_refuses_until_the_next(database: Database) -> None:
    key = key_with(database, tpm=10)
    database.usage.record(used(key, 10))
    database.usage.flush()
    with pytest.raises(RateLimitError, match="10 tokens per minute") as info:
        check(database, key)
    assert info.value.retry_after == "50"
    assert database.keys.window(key.id, MINUTE + 1).minute_tokens == 0


def test_a_key_without_token_limits_reads_nothing(database: Database) -> None:
    key = key_with(database, rpm=1)
    database.usage.record(used(key, 100))
    check(database, key)
    assert database.keys.window(key.id, MINUTE).requests == 0


def test_a_batch_committed_during_the_read_still_counts(database: Database) -> None:
    """The usage writer commits a batch while the limiter reads the database (a round trip
    on PostgreSQL): that read may predate the commit, and the batch is no longer
    uncommitted. Its tokens must count all the same, on admission and when queued work
    runs."""

    async def commits_during(fn: Callable[..., T], /, *args: Any) -> T:
        result = fn(*args)
        database.usage.flush()  # the writer thread's commit, just after the read
        return result

    limiter = KeyLimiter(database.keys, database.usage, lambda: NOW, call=commits_during)
    for run in (limiter.admit, limiter.check_tokens):
        key = key_with(database, token_budget=10)
        database.usage.record(used(key, 10))
        with pytest.raises(RateLimitError, match="token budget"):
            asyncio.run(run(key))
