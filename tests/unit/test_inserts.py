"""The INSERT shape both engines' bulk paths share (SQLite's multi-row statements,
PostgreSQL's COPY)."""

from __future__ import annotations

from polyrelay.storage.inserts import one_row_insert


def test_an_insert_is_taken_apart_as_written() -> None:
    upsert = one_row_insert(
        "INSERT INTO key_minutes VALUES (?, ?, 0, ?) ON CONFLICT (key_id, minute)"
        " DO UPDATE SET tokens = key_minutes.tokens + excluded.tokens"
    )
    assert upsert is not None
    assert (upsert.head, upsert.table, upsert.columns) == (
        "INSERT INTO key_minutes VALUES ",
        "key_minutes",
        None,
    )
    assert (upsert.row, upsert.width, upsert.placeholders_only) == ("(?, ?, 0, ?)", 3, False)
    assert upsert.rest.startswith(" ON CONFLICT (key_id, minute)")
    plain = one_row_insert("INSERT INTO usage (id, key_id) VALUES (?, ?)")
    assert plain is not None and plain.columns == "id, key_id" and plain.rest == ""
    assert plain.width == 2 and plain.placeholders_only
    literal = one_row_insert("INSERT INTO tasks (id, status) VALUES (?, 'pending')")
    assert literal is not None and literal.width == 1 and not literal.placeholders_only


def test_other_statements_have_no_shape() -> None:
    for other in (
        "INSERT INTO t (a, b) SELECT ?, ?",
        "INSERT INTO t (a) VALUES (:a)",
        "INSERT INTO t (a) VALUES (lower(?))",
        "UPDATE t SET a = ?",
        "DELETE FROM t WHERE a = ?",
    ):
        assert one_row_insert(other) is None, other
