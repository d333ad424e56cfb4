"""A private PgBouncer in front of the tests' PostgreSQL, on a loopback port.

It serves one database of its own (created on the test server for the module), since
PgBouncer before 1.20 refuses the `options` startup parameter that the other tests select
their schema with. PgBouncer will not run as root, so under root it runs as `postgres`,
as the test cluster does. Without pgbouncer on the machine these tests skip, except under
CI (`CI` set), where they fail: .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg
import pytest

from tests.integration.servers import free_port
from tests.postgres_server import PostgresServer

__all__ = ["PgBouncer", "pgbouncer_binary", "start_pgbouncer"]


class PgBouncer:
    def __init__(self, url: str, database_url: str, pool_mode: str) -> None:
        self.url = url
        """The pooled database's URL, through PgBouncer."""
        self.database_url = database_url
        """The same database's URL on the server directly."""
        self.pool_mode = pool_mode
        """session or transaction."""


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer",) if Path(p).is_file()), None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed on this machine")
    return found


def _fresh_database(server: PostgresServer) -> tuple[str, str]:
    """A new database on the server: its name and URL (the server's, other path)."""
    name = f"pgb_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlsplit(server.url)._replace(path=f"/{name}").geturl()


def _login(target: str) -> tuple[str, str | None]:
    """The user and (unescaped) password that `target` logs in with."""
    server = urlsplit(target)
    password = unquote(server.password) if server.password is not None else None
    return unquote(server.username or "postgres"), password


def _write_config(root: Path, target: str, database: str, pool_mode: str, port: int) -> Path:
    server = urlsplit(target)
    user, password = _login(target)
    # Clients log in to PgBouncer with the server's own user and password (trusted when the
    # server has none); PgBouncer logs in to the server as the URL says.
    (root / "users.txt").write_text(f'"{user}" "{password or ""}"\n')
    auth_type = "scram-sha-256" if password else "trust"
    login = f" user={user}" + (f" password={password}" if password else "")
    config = root / "pgbouncer.ini"
    config.write_text(
        f"""\
[databases]
polyrelay = host={server.hostname} port={server.port or 5432} dbname={database}{login}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = {auth_type}
auth_file = {root / "users.txt"}
pool_mode = {pool_mode}
max_client_conn = 200
default_pool_size = 60
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""
    )
    return config


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            alive = proc.poll() is None
            text = log.read_text() if log.exists() else ""
            assert alive and time.monotonic() < deadline, f"pgbouncer did not start: {text}"
            time.sleep(0.05)


def start_pgbouncer(server: PostgresServer, pool_mode: str) -> Iterator[PgBouncer]:
    """A running PgBouncer (`pool_mode`: session or transaction) over a new database, for
    a fixture to `yield from`; stopped afterwards."""
    binary = pgbouncer_binary()
    name, direct = _fresh_database(server)
    root = Path(tempfile.mkdtemp(prefix="polyrelay-pgbouncer-"))
    port = free_port()
    config = _write_config(root, server.url, name, pool_mode, port)
    command = [binary, str(config)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        for path in root.iterdir():
            shutil.chown(path, "postgres", "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc, root / "pgbouncer.log")
        user, password = _login(server.url)
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        url = f"postgresql://{login}@127.0.0.1:{port}/polyrelay"
        yield PgBouncer(url, direct, pool_mode)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
