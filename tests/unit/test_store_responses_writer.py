"""The ResponseStore's writer thread, on both backends: puts are readable at once and
committed in batches, which another process then sees."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.backends import query

from polyrelay.storage import Database, StoredResponse, open_database
from polyrelay.storage.responses import SqlResponseStore


def record(rid: str, key: str = "k1") -> StoredResponse:
    return StoredResponse(
        id=rid,
        key_id=key,
        created_at=100,
        status="completed",
        response={"id": rid, "object": "response"},
        input_items=[{"id": f"msg_{rid}", "type": "message"}],
        output_items=[{"id": "msg_out", "type": "message"}],
    )


def committed(url: str) -> set[str]:
    """The responses another process sees."""
    return {row[0] for row in query(url, "SELECT id FROM responses")}


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    yield opened
    opened.close()


def test_put_is_readable_at_once_and_committed_by_the_writer(
    database: Database, database_url: str
) -> None:
    store = database.responses
    assert isinstance(store, SqlResponseStore)
    for i in range(50):
        store.put(record(f"resp_{i}"))
        got = store.get(f"resp_{i}", "k1")
        assert got is not None and got.input_items == [{"id": f"msg_resp_{i}", "type": "message"}]
        assert store.get(f"resp_{i}", "k2") is None
    deadline = time.monotonic() + 5
    while len(committed(database_url)) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert committed(database_url) == {f"resp_{i}" for i in range(50)}
    other = open_database(database_url)  # another process reads what the writer committed
    try:
        got = other.responses.get("resp_7", "k1")
        assert got is not None and got.input_items == [{"id": "msg_resp_7", "type": "message"}]
    finally:
        other.close()


def test_reads_and_writes_after_a_put_see_it(database: Database) -> None:
    store = database.responses
    store.put(record("resp_a"))
    page = store.input_items("resp_a", "k1")
    assert page is not None and [i["id"] for i in page.items] == ["msg_resp_a"]
    assert store.update_status("resp_a", "k1", "cancelled")
    store.put(record("resp_b"))
    assert store.delete("resp_b", "k1") is True
    assert store.get("resp_b", "k1") is None
    got = store.get("resp_a", "k1")
    assert got is not None and got.status == "cancelled"


def test_a_failing_record_is_logged_and_the_rest_of_the_batch_stored(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = database.responses
    assert isinstance(store, SqlResponseStore)
    bad = record("resp_bad")
    bad.input_items = [{"id": "x", "type": "message", "blob": object()}]  # not encodable
    with store._lock:  # hold the writer back so both land in one batch
        store.put(record("resp_ok"))
        store.put(bad)
    store.flush()
    assert committed(database_url) == {"resp_ok"}
    assert "could not store response resp_bad" in caplog.text
