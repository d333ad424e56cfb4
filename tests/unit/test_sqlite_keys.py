from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyrelay.auth import hash_secret
from polyrelay.storage import StorageError, open_database
from polyrelay.storage.migrations import MIGRATIONS, migrate
from polyrelay.storage.sqlite import SqliteDatabase


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase.open(str(tmp_path / "keys.db"), clock=clock)
    yield database
    database.close()


def test_create_returns_secret_once_and_stores_its_hash(database: SqliteDatabase) -> None:
    key, secret = database.keys.create("ci", ("gpt-5-mini",))
    assert key.name == "ci"
    assert key.prefix == secret[:10]
    assert key.models == ("gpt-5-mini",)
    assert key.created_at == 1_700_000_000
    assert key.revoked_at is None
    assert database.keys.get_by_hash(hash_secret(secret)) == key
    assert database.keys.get_by_hash(hash_secret(secret + "x")) is None


def test_unrestricted_key_has_no_model_list(database: SqliteDatabase) -> None:
    key, secret = database.keys.create("all", None)
    assert key.models is None
    found = database.keys.get_by_hash(hash_secret(secret))
    assert found is not None and found.models is None


def test_list_is_oldest_first(database: SqliteDatabase, clock: FakeClock) -> None:
    first, _ = database.keys.create("a", None)
    clock.now += 10
    second, _ = database.keys.create("b", None)
    assert database.keys.list() == [first, second]


def test_revoke_marks_key_once(database: SqliteDatabase, clock: FakeClock) -> None:
    key, secret = database.keys.create("a", None)
    clock.now += 5
    assert database.keys.revoke(key.id)
    assert not database.keys.revoke(key.id)
    assert not database.keys.revoke("key_missing")
    revoked = database.keys.get_by_hash(hash_secret(secret))
    assert revoked is not None and revoked.revoked_at == 1_700_000_005


def test_keys_survive_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = str(tmp_path / "keys.db")
    first = SqliteDatabase.open(path, clock=clock)
    key, _ = first.keys.create("a", None)
    first.close()
    second = SqliteDatabase.open(path, clock=clock)
    assert second.keys.list() == [key]
    second.close()


def test_database_uses_wal(tmp_path: Path, clock: FakeClock) -> None:
    SqliteDatabase.open(str(tmp_path / "w.db"), clock=clock).close()
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_migrations_are_recorded_and_run_once() -> None:
    calls: list[str] = []

    def probe(conn: sqlite3.Connection) -> None:
        calls.append("probe")
        conn.execute("CREATE TABLE probe (x)")

    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = (*MIGRATIONS, ("9999_probe", probe))
    assert migrate(conn, 1, migrations) == [name for name, _ in migrations]
    assert migrate(conn, 2, migrations) == []
    assert calls == ["probe"]
    rows = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
    assert rows == [(name, 1) for name, _ in migrations]


def test_failed_migration_rolls_back() -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    conn = sqlite3.connect(":memory:", isolation_level=None)
    with pytest.raises(RuntimeError):
        migrate(conn, 1, (*MIGRATIONS, ("0002_broken", broken)))
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "half" not in names
    applied = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert applied == [name for name, _ in MIGRATIONS]


def test_open_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = open_database("sqlite:///:memory:")
    assert memory.keys.list() == []
    memory.close()
    monkeypatch.chdir(tmp_path)
    open_database("sqlite:///relative.db").close()
    assert (tmp_path / "relative.db").exists()
    open_database(f"sqlite:///{tmp_path}/absolute.db").close()
    assert (tmp_path / "absolute.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://db/polyrelay", "PostgreSQL support arrives with the scale-out work"),
        ("mysql://db", "unsupported database URL"),
        ("sqlite:///no/such/dir/x.db", "directory no/such/dir does not exist"),
    ],
)
def test_open_database_rejects(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        open_database(url)
