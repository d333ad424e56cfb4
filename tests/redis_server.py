"""A private Redis server for the tests (the machine's redis-server on a loopback port,
nothing persisted). It asks for a password (`requirepass`, as a production Redis does),
one with characters a URL must escape, so the tests connect as a deployment does. Without
redis-server the Redis cases skip, except under CI (`CI` set), where they fail: .ci/run
installs it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis

from tests.integration.servers import free_port

__all__ = ["RedisServer", "new_password", "redis_binary", "running_redis", "started_redis"]


class RedisServer:
    def __init__(self, binary: str) -> None:
        self._binary = binary
        self.port = free_port()
        self.password = new_password()
        self.url = f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="polyrelay-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--requirepass",
                self.password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def set_password(self, password: str) -> None:
        """Change the password, as an operator rotating it does, and drop every connection
        already logged in (the pub/sub ones included), so each must log in again."""
        client = redis.Redis.from_url(self.url)
        try:
            client.config_set("requirepass", password)
            self.password = password
            self.url = f"redis://:{quote(password, safe='')}@127.0.0.1:{self.port}/0"
            client.client_kill_filter(_type="pubsub")
            client.client_kill_filter(_type="normal", skipme=True)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def new_password() -> str:
    """A password with characters a URL must escape."""
    return f"pw@{secrets.token_hex(6)}:/%?#&="


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def started_redis() -> Iterator[RedisServer]:
    """A Redis server of its own for the caller, removed after; the test is skipped (failed
    in CI) when redis-server is not installed."""
    binary = redis_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed on this machine")
    server = RedisServer(binary)
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def running_redis() -> Iterator[RedisServer]:
    """The session's Redis server (tests that stop it must start it again)."""
    yield from started_redis()
