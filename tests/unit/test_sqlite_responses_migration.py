"""Migration 0005: input items move from their own table into the response's row."""

from __future__ import annotations

import sqlite3
import threading

from polyrelay import codec
from polyrelay.storage.dialect import SQLITE
from polyrelay.storage.migrations import MIGRATIONS, migrate
from polyrelay.storage.responses import SqlResponseStore


def migrated_to(name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    names = [entry[0] for entry in MIGRATIONS]
    migrate(conn, 1, MIGRATIONS[: names.index(name) + 1])
    return conn


def add_response(conn: sqlite3.Connection, rid: str, key: str = "k1") -> None:
    conn.execute(
        "INSERT INTO responses (id, key_id, created_at, status, previous_response_id,"
        " response, output_items) VALUES (?, ?, 100, 'completed', NULL, ?, '')",
        (rid, key, codec.encode_str({"id": rid, "object": "response", "output": []})),
    )


def add_items(conn: sqlite3.Connection, rid: str, positions: list[int]) -> None:
    for position in positions:
        item = {"id": f"{rid}_msg_{position}", "type": "message", "content": f"turn {position}"}
        conn.execute(
            "INSERT INTO response_input_items VALUES (?, ?, ?, ?)",
            (rid, position, item["id"], codec.encode_str(item)),
        )


def test_items_are_inlined_in_position_order_and_the_table_dropped() -> None:
    conn = migrated_to("0004_usage")
    add_response(conn, "resp_a")
    add_response(conn, "resp_b", key="k2")
    add_response(conn, "resp_none")
    add_items(conn, "resp_a", [3, 0, 4, 1, 2])  # inserted out of position order
    add_items(conn, "resp_b", [1, 0])

    assert migrate(conn, 2)[0] == "0005_inline_input_items"

    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "response_input_items" not in tables
    store = SqlResponseStore(conn, threading.Lock(), SQLITE)
    got = store.get("resp_a", "k1")
    assert got is not None
    assert [item["id"] for item in got.input_items] == [f"resp_a_msg_{i}" for i in range(5)]
    assert got.input_items[2] == {"id": "resp_a_msg_2", "type": "message", "content": "turn 2"}
    page = store.input_items("resp_a", "k1", order="asc", limit=2, after="resp_a_msg_0")
    assert page is not None and page.has_more
    assert [item["id"] for item in page.items] == ["resp_a_msg_1", "resp_a_msg_2"]
    newest = store.input_items("resp_a", "k1", limit=2)
    assert newest is not None and [item["id"] for item in newest.items] == [
        "resp_a_msg_4",
        "resp_a_msg_3",
    ]
    other = store.get("resp_b", "k2")
    assert other is not None
    assert [item["id"] for item in other.input_items] == ["resp_b_msg_0", "resp_b_msg_1"]
    empty = store.get("resp_none", "k1")
    assert empty is not None and empty.input_items == []
    assert store.input_items("resp_a", "k2") is None
    conn.close()
