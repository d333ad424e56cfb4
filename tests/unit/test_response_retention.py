"""Expired stored Responses are deleted in batches, with their recorded events; newer ones
and a retention of 0 keep them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from polyrelay.settings import ConfigError, parse_settings
from polyrelay.storage import (
    Database,
    RecordedEvent,
    StoredResponse,
    open_database,
    retention as retention_module,
)
from polyrelay.storage.retention import ResponseRetention

NOW = 1_700_000_000


def stored(rid: str, created_at: int) -> StoredResponse:
    return StoredResponse(
        id=rid, key_id="k", created_at=created_at, status="completed", response={"id": rid}
    )


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url, clock=lambda: float(NOW))
    yield opened
    opened.close()


def test_expired_responses_go_in_batches_with_their_events(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = database.responses
    for n in range(7):
        store.put(stored(f"old_{n}", NOW - 1000 - n))
    store.put(stored("new", NOW - 10))
    store.flush()
    database.response_events.append("old_0", [RecordedEvent(0, b"x", True)])
    monkeypatch.setattr(retention_module, "BATCH", 3)
    purger = ResponseRetention(store, 100, lambda: float(NOW))
    assert asyncio.run(purger.purge()) == 7
    assert store.get("new", "k") is not None
    assert all(store.get(f"old_{n}", "k") is None for n in range(7))
    assert database.response_events.read("old_0", -1) == []
    assert store.purge(NOW, 10) == 1  # the store's own limit: anything created before NOW


def test_a_retention_of_zero_starts_no_loop(database: Database) -> None:

    async def started() -> bool:
        purger = ResponseRetention(database.responses, 0, lambda: float(NOW))
        await purger.start()
        running = purger._loop is not None
        await purger.stop()
        return running

    assert asyncio.run(started()) is False


def settings_with(extra: str) -> int:
    text = "providers: {}\nmodels: {}\n" + extra
    return parse_settings(text, source="x", env={}).responses.retention_seconds


def test_the_setting() -> None:
    assert settings_with("") == 30 * 24 * 3600
    assert settings_with("responses: {retention_seconds: 0}\n") == 0
    with pytest.raises(ConfigError, match="retention_seconds"):
        settings_with("responses: {retention_seconds: -1}\n")
