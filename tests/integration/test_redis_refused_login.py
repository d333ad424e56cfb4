"""A Redis that refuses the gateway's login (a wrong password, none where Redis asks for
one, an ACL user without the rights the signals need) is a configuration error: `polyrelay
serve` and `polyrelay check` exit 2 at once and name the problem in one line, without the
password (serve retried every 5 s forever). An unreachable Redis is still an outage, which
the gateway rides out."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
import redis

from tests.integration.conftest import Emulator, serving
from tests.integration.servers import STATIC_KEY, free_port, gateway_config, start, stop
from tests.redis_server import RedisServer

WRONG_PASSWORD = "not-the-password@:/%"
NO_RIGHTS_USER = "polyrelay-no-rights"
NO_RIGHTS_PASSWORD = "no-rights@:/%pw"


def _polyrelay(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "polyrelay", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def _url(server: RedisServer, login: str) -> str:
    return f"redis://{login}127.0.0.1:{server.port}/0"


def _refused_url(server: RedisServer, case: str) -> tuple[str, str, list[str]]:
    """The redis URL of `case`, what the error line says, and the secrets it must hide."""
    if case == "wrong password":
        url = _url(server, f":{quote(WRONG_PASSWORD, safe='')}@")
        return url, "refused the login", [WRONG_PASSWORD, server.password]
    if case == "no password":
        return _url(server, ""), "asks for a password", [server.password]
    admin = redis.Redis.from_url(server.url)
    try:  # logs in, and may run nothing
        admin.execute_command("ACL", "SETUSER", NO_RIGHTS_USER, "on", f">{NO_RIGHTS_PASSWORD}")
        admin.execute_command("ACL", "SETUSER", NO_RIGHTS_USER, "-@all")
    finally:
        admin.close()
    url = _url(server, f"{NO_RIGHTS_USER}:{quote(NO_RIGHTS_PASSWORD, safe='')}@")
    return url, f"refuses the user {NO_RIGHTS_USER!r}", [NO_RIGHTS_PASSWORD, server.password]


def _shows(text: str, secret: str) -> bool:
    return secret in text or quote(secret, safe="") in text


CASES = ["wrong password", "no password", "user without rights"]


@pytest.mark.parametrize("case", CASES)
def test_serve_stops_on_a_refused_redis_login(
    case: str, running_redis: RedisServer, emulator: Emulator, tmp_path: Path
) -> None:
    url, problem, secrets = _refused_url(running_redis, case)
    config = tmp_path / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, tmp_path / "db.sqlite", f"redis: {url}\n"))
    done = _polyrelay(config, "serve", "--port", "0")
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"polyrelay: error: Redis at redis://127.0.0.1:{running_redis.port} ")
    assert problem in line
    assert done.stdout == ""  # stopped before the banner
    assert not any(_shows(done.stdout + done.stderr, secret) for secret in secrets)


@pytest.mark.parametrize("case", CASES)
def test_check_fails_a_refused_redis_login_as_a_config_error(
    case: str, running_redis: RedisServer, emulator: Emulator, tmp_path: Path
) -> None:
    url, problem, secrets = _refused_url(running_redis, case)
    config = tmp_path / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, tmp_path / "db.sqlite", f"redis: {url}\n"))
    done = _polyrelay(config, "check", "--offline")
    assert done.returncode == 2, done.stdout + done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.split()[1:2] == ["redis"]]
    assert row.startswith("FAIL") and problem in row, done.stdout
    assert "Traceback" not in done.stderr
    assert not any(_shows(done.stdout + done.stderr, secret) for secret in secrets)


def test_an_unreachable_redis_is_an_outage_the_gateway_rides_out(
    emulator: Emulator, tmp_path: Path
) -> None:
    unreachable = f"redis://:{quote(WRONG_PASSWORD, safe='')}@127.0.0.1:1/0"
    config = tmp_path / "polyrelay.yaml"
    config.write_text(
        gateway_config(emulator.url, tmp_path / "db.sqlite", f"redis: {unreachable}\n")
    )
    checked = _polyrelay(config, "check", "--offline")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for gateway in serving(tmp_path, emulator, extra=f"redis: {unreachable}\n"):
        served = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {STATIC_KEY}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert served.status_code == 200, served.text
        log = gateway.log.read_text()
    assert "redis: signals lost (" in log and " ERROR " not in log
    assert urlsplit(unreachable).password not in log and not _shows(log, WRONG_PASSWORD)


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A redis URL whose server accepts TCP connections and never writes a byte (a hung
    Redis, or a port that is no Redis)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # closed: the test is over
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()
    for conn in accepted:
        conn.close()


def test_a_redis_that_never_answers_holds_start_up_back_a_second_at_most(
    silent_redis: str, emulator: Emulator, tmp_path: Path
) -> None:
    """It was ~11 s: 5 s for the login check and 5 s more waiting for the first
    subscription. The gateway serves meanwhile, and logs the silence as an outage."""
    config = tmp_path / "polyrelay.yaml"
    config.write_text(
        gateway_config(emulator.url, tmp_path / "db.sqlite", f"redis: {silent_redis}\n")
    )
    checked = _polyrelay(config, "check", "--offline")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no answer within 3 s" in checked.stdout
    port = free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "gateway.log"
    started = time.monotonic()
    proc = start(["serve", "--config", str(config), "--port", str(port)], url + "/", log)
    try:
        assert time.monotonic() - started < 4.0, log.read_text()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {STATIC_KEY}"}
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, headers=headers).is_success
        deadline = time.monotonic() + 15
        while "redis: signals lost (" not in log.read_text():  # not a listener hung for ever
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, headers=headers).is_success
    finally:
        stop(proc)
    assert " ERROR " not in log.read_text()
