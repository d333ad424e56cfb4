"""A private PostgreSQL server for the tests, and a fresh schema per test.

The session starts its own cluster (initdb + pg_ctl from the machine's PostgreSQL, as the
`postgres` user when the tests run as root, since PostgreSQL refuses to run as root) on a
loopback port, so nothing depends on a system service. Logins over TCP need a password
(scram-sha-256, as a production server asks), and the password holds characters a URL must
escape, so every test connects the way a deployment does. `POLYRELAY_TEST_POSTGRES_URL`
points the tests at a server of your own instead. Each test gets its own schema, selected
by the database URL's `options=-csearch_path=...`, so tests cannot see each other's rows.

Without PostgreSQL on the machine the PostgreSQL cases skip, except under CI (`CI` set),
where they fail: .ci/run installs it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from tests.integration.servers import free_port

__all__ = ["LOSE_CONNECTION", "PostgresServer", "postgres_binaries", "running_postgres"]

LOSE_CONNECTION = """
CREATE FUNCTION lose_connection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_terminate_backend(pg_backend_pid());
    PERFORM pg_sleep(5);
    RETURN NEW;
END $$
"""
"""A trigger function that kills the connection running it, as a server restart or a
failover does under a statement: the statement fails with the connection lost."""

_SEARCH_DIRS = ("/usr/lib/postgresql",)
_USER = "polyrelay"
_PASSWORD = f"pw@{secrets.token_hex(6)}:/%?#&="
"""The private cluster's password: random, with characters that a URL must escape."""


def postgres_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for base in _SEARCH_DIRS:
        versions = sorted(Path(base).glob("*/bin/initdb"), reverse=True)
        if versions:
            return versions[0].parent
    return None


class PostgresServer:
    def __init__(self, url: str) -> None:
        self.url = url
        """The server's URL (database `postgres`), without a schema."""

    def fresh_schema_url(self) -> str:
        """A URL whose connections see only a new, empty schema of their own."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.url}?options={quote(f'-csearch_path={schema}')}"


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _start_cluster(binaries: Path, root: Path) -> tuple[str, Path]:
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                _USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    _pg_ctl(binaries, root, "-o", _options(port, root), "-w", "start")
    password = quote(_PASSWORD, safe="")
    return f"postgresql://{_USER}:{password}@127.0.0.1:{port}/postgres", data


def _options(port: int, root: Path) -> str:
    # Durability off: a test server's data dies with the session anyway.
    return (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )


def _pg_ctl(binaries: Path, root: Path, *args: str) -> None:
    command = [str(binaries / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log")]
    subprocess.run(_as_postgres([*command, *args]), check=True, capture_output=True)


class PrivateCluster:
    """A cluster of one test module's own, which its tests stop and start again (on the
    same port) or restart: the session's server is shared by other tests."""

    def __init__(self, binaries: Path, root: Path) -> None:
        self.url, _ = _start_cluster(binaries, root)
        self._binaries = binaries
        self._root = root
        self._options = _options(urlsplit(self.url).port or 0, root)

    def ctl(self, *args: str) -> None:
        _pg_ctl(self._binaries, self._root, *args)

    def stop(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.ctl("-o", self._options, "-w", "start")


def private_cluster(prefix: str) -> Iterator[PrivateCluster]:
    """For a module fixture to `yield from`; skipped where PostgreSQL is not installed
    (failed on CI, which installs it)."""
    binaries = _binaries_or_skip()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = PrivateCluster(binaries, root)
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _binaries_or_skip() -> Path:
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed on this machine")
    return binaries


@pytest.fixture(scope="session")
def running_postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server."""
    given = os.environ.get("POLYRELAY_TEST_POSTGRES_URL")
    if given:
        yield PostgresServer(given)
        return
    binaries = _binaries_or_skip()
    root = Path(tempfile.mkdtemp(prefix="polyrelay-pg-"))
    url, data = _start_cluster(binaries, root)
    try:
        yield PostgresServer(url)
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
