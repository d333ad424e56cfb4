"""The ResponseStore's writer thread: puts are readable at once and committed in batches."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from polyrelay.storage import StoredResponse, open_database
from polyrelay.storage.responses import SqliteResponseStore


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


def committed(path: Path) -> set[str]:
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT id FROM responses")}


def test_put_is_readable_at_once_and_committed_by_the_writer(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = database.responses
    assert isinstance(store, SqliteResponseStore)
    for i in range(50):
        store.put(record(f"resp_{i}"))
        got = store.get(f"resp_{i}", "k1")
        assert got is not None and got.input_items == [{"id": f"msg_resp_{i}", "type": "message"}]
        assert store.get(f"resp_{i}", "k2") is None
    deadline = time.monotonic() + 5
    while len(committed(tmp_path / "db.sqlite")) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert committed(tmp_path / "db.sqlite") == {f"resp_{i}" for i in range(50)}
    database.close()


def test_reads_and_writes_after_a_put_see_it(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
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
    database.close()


def test_a_failing_record_is_logged_and_the_rest_of_the_batch_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = database.responses
    assert isinstance(store, SqliteResponseStore)
    bad = record("resp_bad")
    bad.input_items = [{"id": "x", "type": "message", "blob": object()}]  # not encodable
    with store._lock:  # hold the writer back so both land in one batch
        store.put(record("resp_ok"))
        store.put(bad)
    store.flush()
    assert committed(tmp_path / "db.sqlite") == {"resp_ok"}
    assert "could not store response resp_bad" in caplog.text
    database.close()
