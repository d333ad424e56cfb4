"""A second connection to a test database, as another process would have: what it sees is
committed. Works on the URLs `database_url` gives (tests/conftest.py): `sqlite:///path`
and `postgresql://...`; SQL is written with SQLite's `?` placeholders for both."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import psycopg

from polyrelay.storage.postgres import translate

__all__ = ["execute", "is_postgres", "query"]


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql`, read on a connection of its own."""
    if is_postgres(url):
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(translate(sql), params).fetchall()
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        return conn.execute(sql, params).fetchall()


def execute(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run and commit `sql` on a connection of its own."""
    if is_postgres(url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(translate(sql), params)
        return
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)) as conn:
        conn.execute(sql, params)
