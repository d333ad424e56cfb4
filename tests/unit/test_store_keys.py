"""The KeyStore on both backends, and opening databases: SQLite's file, WAL and migration
runner, and the URLs open_database accepts or refuses."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from tests.unit.conftest import FakeClock

from polyrelay.auth import hash_secret
from polyrelay.storage import Database, StorageError, open_database
from polyrelay.storage.migrations import MIGRATIONS, migrate


def test_create_returns_secret_once_and_stores_its_hash(database: Database) -> None:
    key, secret = database.keys.create("ci", ("gpt-5-mini",))
    assert key.name == "ci"
    assert key.prefix == secret[:10]
    assert key.models == ("gpt-5-mini",)
    assert key.created_at == 1_700_000_000
    assert key.revoked_at is None
    assert database.keys.get_by_hash(hash_secret(secret)) == key
    assert database.keys.get_by_hash(hash_secret(secret + "x")) is None


def test_unrestricted_key_has_no_model_list(database: Database) -> None:
    key, secret = database.keys.create("all", None)
    assert key.models is None
    found = database.keys.get_by_hash(hash_secret(secret))
    assert found is not None and found.models is None


def test_list_is_oldest_first(database: Database, clock: FakeClock) -> None:
    first, _ = database.keys.create("a", None)
    clock.now += 10
    second, _ = database.keys.create("b", None)
    third, _ = database.keys.create("c", None)  # the same second: creation order
    assert database.keys.list() == [first, second, third]


def test_revoke_marks_key_once(database: Database, clock: FakeClock) -> None:
    key, secret = database.keys.create("a", None)
    clock.now += 5
    assert database.keys.revoke(key.id)
    assert not database.keys.revoke(key.id)
    assert not database.keys.revoke("key_missing")
    revoked = database.keys.get_by_hash(hash_secret(secret))
    assert revoked is not None and revoked.revoked_at == 1_700_000_005


def test_a_demo_key_is_marked_and_no_other_is(database: Database) -> None:
    """Only `serve`'s demo keys carry the mark, whatever an operator's key is called."""
    demo, demo_secret = database.keys.create("demo", None, demo=True)
    named_demo, secret = database.keys.create("demo", None)
    assert demo.demo and not named_demo.demo
    assert database.keys.get_by_hash(hash_secret(demo_secret)) == demo
    assert database.keys.get_by_hash(hash_secret(secret)) == named_demo
    assert [key.demo for key in database.keys.list()] == [True, False]


def test_keys_from_before_the_demo_mark_are_no_demo_keys(tmp_path: Path) -> None:
    """A database from before migration 0012: its keys, a demo key of an earlier start
    included, cannot be told from an operator's key named demo, so none is marked."""
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    before = tuple((name, step) for name, step in MIGRATIONS if name < "0012")
    migrate(conn, 1, before)
    conn.execute(
        "INSERT INTO api_keys (id, name, prefix, secret_hash, created_at)"
        " VALUES ('key_old', 'demo', 'sk-old', 'hash', 1)"
    )
    conn.close()
    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        [old] = database.keys.list()
        assert old.name == "demo" and not old.demo
    finally:
        database.close()


def test_keys_survive_reopen(database_url: str, clock: FakeClock) -> None:
    first = open_database(database_url, clock=clock)
    key, _ = first.keys.create("a", None)
    first.close()
    second = open_database(database_url, clock=clock)
    assert second.keys.list() == [key]
    second.close()


def test_a_key_made_by_one_process_is_seen_by_another(database_url: str) -> None:
    first = open_database(database_url)
    second = open_database(database_url)  # migrates nothing: the first did
    try:
        key, secret = first.keys.create("a", ("m",))
        assert second.keys.get_by_hash(hash_secret(secret)) == key
        assert second.keys.revoke(key.id) and not first.keys.revoke(key.id)
    finally:
        first.close()
        second.close()


def test_database_uses_wal(tmp_path: Path, clock: FakeClock) -> None:
    open_database(f"sqlite:///{tmp_path / 'w.db'}", clock=clock).close()
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_new_database_file_is_its_owners_alone(tmp_path: Path, clock: FakeClock) -> None:
    """It holds every key's prompts and answers, and the webhook signing secret."""
    database = open_database(f"sqlite:///{tmp_path / 'p.db'}", clock=clock)
    try:
        database.keys.create("k", None)  # a write: the -wal file exists
        for name in ("p.db", "p.db-wal"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        database.close()
    open_database("sqlite:///", clock=clock).close()  # "": SQLite's private temporary one
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o640)
    shared.chmod(0o640)  # the operator's choice stays
    open_database(f"sqlite:///{shared}", clock=clock).close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_statement_journals_stay_in_memory(tmp_path: Path, clock: FakeClock) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'm.db'}", clock=clock)
    try:
        conn = database.responses._conn  # the store's own connection
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    finally:
        database.close()


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
        (
            "postgresql://user:hunter2@127.0.0.1:1/polyrelay",
            "cannot connect to PostgreSQL at 127.0.0.1:1/polyrelay",
        ),
        ("mysql://user:hunter2@db/polyrelay", "unsupported database URL 'mysql'"),
        ("sqlite:///no/such/dir/x.db", "directory no/such/dir does not exist"),
    ],
)
def test_open_database_rejects(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as info:
        open_database(url)
    # Never the password, nor the rest of an unsupported URL.
    assert "hunter2" not in str(info.value) and "@db/" not in str(info.value)
