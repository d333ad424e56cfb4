"""PostgreSQL and Redis that ask for passwords, as production servers do: the gateway and its
CLI log in with the passwords from their URLs (escaped, as a URL must carry `@ : / %`), and
no output of theirs shows a password, when the login works or when it is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
import psycopg
import pytest
import redis

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import STATIC_KEY, gateway_config
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

WRONG_PASSWORD = "not-the-password@:/%"


def password_of(url: str) -> str:
    password = urlsplit(url).password
    if password is None:
        pytest.skip("the server under test asks for no password")
    return unquote(password)


def with_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    login = f"{parts.username or ''}:{quote(password, safe='')}" if password else parts.username
    return parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port}").geturl()


def shows(text: str, password: str) -> bool:
    """Whether `text` holds `password` as it is or as a URL escapes it."""
    return password in text or quote(password, safe="") in text


def polyrelay(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "polyrelay", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def chat(gateway: Gateway, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )


@pytest.fixture(scope="module")
def database_url(running_postgres: PostgresServer) -> str:
    return running_postgres.fresh_schema_url()


@pytest.fixture(scope="module")
def gateway(
    emulator: Emulator,
    database_url: str,
    running_redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("login")
    extra = f"redis: {running_redis.url}\n"
    yield from serving(workdir, emulator, extra=extra, database=database_url)


def test_the_servers_refuse_a_login_without_the_password(
    database_url: str, running_redis: RedisServer
) -> None:
    """What makes the tests below worth running: the passwords are checked."""
    password_of(database_url)
    password_of(running_redis.url)
    for password in (WRONG_PASSWORD, None):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(with_password(database_url, password), connect_timeout=5)
        refused = (redis.AuthenticationError, redis.ResponseError)
        with pytest.raises(refused, match=r"(?i)auth|password"):
            redis.Redis.from_url(with_password(running_redis.url, password)).ping()


def test_the_gateway_and_its_cli_log_in_with_the_passwords(
    gateway: Gateway, database_url: str, running_redis: RedisServer
) -> None:
    passwords = [password_of(database_url), password_of(running_redis.url)]
    config = gateway.log.parent / "polyrelay.yaml"
    created = polyrelay(config, "keys", "create", "--name", "login")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("Created key ")[1].split()[0]
    secret = next(line for line in created.stdout.splitlines() if line.startswith("sk-"))
    for key in (STATIC_KEY, secret):  # a key from the config, and one from the database
        assert chat(gateway, key).status_code == 200
    revoked = polyrelay(config, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    # The revocation reaches the gateway through Redis (a cached key lasts 5 s otherwise).
    deadline = time.monotonic() + 2
    while chat(gateway, secret).status_code != 401:
        assert time.monotonic() < deadline, "the revocation was not signalled"
        time.sleep(0.05)
    log = gateway.log.read_text()
    database, cache = urlsplit(database_url), urlsplit(running_redis.url)
    assert f"database: PostgreSQL {database.hostname}:{database.port}/" in log
    assert f"redis: redis://{cache.hostname}:{cache.port} " in log
    outputs = [log] + [p.stdout + p.stderr for p in (created, revoked)]
    assert not any(shows(text, password) for text in outputs for password in passwords)


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["keys", "list"], ["check"]], ids=" ".join
)
def test_a_refused_database_login_is_reported_without_the_password(
    command: list[str], database_url: str, emulator: Emulator, tmp_path: Path
) -> None:
    password_of(database_url)
    config = tmp_path / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, with_password(database_url, WRONG_PASSWORD)))
    done = polyrelay(config, *command)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "password authentication failed" in output
    assert "Traceback" not in output
    assert not shows(output, WRONG_PASSWORD)


def test_a_refused_redis_login_is_reported_without_the_password(
    running_redis: RedisServer, emulator: Emulator, tmp_path: Path
) -> None:
    """A refused Redis login is a configuration error: `check` fails it and `serve` stops
    (exit 2), each naming the problem (tests/integration/test_redis_refused_login.py)."""
    password_of(running_redis.url)
    wrong = with_password(running_redis.url, WRONG_PASSWORD)
    config = tmp_path / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, tmp_path / "db.sqlite", f"redis: {wrong}\n"))
    checked = polyrelay(config, "check")
    failure = next(line for line in checked.stdout.splitlines() if line.split()[1:2] == ["redis"])
    assert failure.startswith("FAIL") and "refused the login" in failure, checked.stdout
    served = polyrelay(config, "serve", "--port", "0")
    assert checked.returncode == served.returncode == 2
    assert "refused the login" in served.stderr
    for text in (checked.stdout + checked.stderr, served.stdout + served.stderr):
        assert "Traceback" not in text
        assert not shows(text, WRONG_PASSWORD)
