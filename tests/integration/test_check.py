"""`polyrelay check` as a real subprocess: against the emulator as every provider type, a
PostgreSQL database and Redis, a provider that refuses the key, one that is down, and a
model its provider does not list."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Emulator
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer


def check(config: Path, *args: str) -> tuple[int, list[list[str]]]:
    command = [sys.executable, "-m", "polyrelay", "check", "--config", str(config), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    rows = [line.split(None, 3) for line in done.stdout.splitlines()]
    return done.returncode, rows


def row(rows: list[list[str]], part: str, name: str) -> list[str]:
    return next(r for r in rows if r[1:3] == [part, name])


@pytest.fixture(scope="module")
def refusing_upstream() -> Iterator[str]:
    """An OpenAI-compatible server that refuses every key, as OpenAI does."""

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": {"message": "Incorrect API key provided: sk-***"}})
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def config_for(tmp_path: Path, emulator: str, database: str, extra: str) -> Path:
    config = tmp_path / "polyrelay.yaml"
    config.write_text(
        f"""\
database: {database}
providers:
  emu-openai: {{type: openai, base_url: "{emulator}/v1", api_key: up-openai}}
  emu-responses: {{type: openai-responses, base_url: "{emulator}/v1", api_key: up-openai}}
  emu-anthropic: {{type: anthropic, base_url: "{emulator}", api_key: up-anthropic}}
  emu-gemini: {{type: gemini, base_url: "{emulator}", api_key: up-gemini}}
models:
  gpt-4o-mini: {{provider: emu-openai}}
  gpt-5-mini: {{provider: emu-responses}}
  claude-sonnet-4-5: {{provider: emu-anthropic}}
  gemini-2.5-flash: {{provider: emu-gemini}}
{extra}"""
    )
    return config


def test_a_ready_deployment_checks_ok(
    tmp_path: Path,
    emulator: Emulator,
    running_postgres: PostgresServer,
    running_redis: RedisServer,
) -> None:
    database = running_postgres.fresh_schema_url()
    config = config_for(tmp_path, emulator.url, database, f"redis: {running_redis.url}\n")
    status, rows = check(config)
    assert status == 0, rows
    assert row(rows, "database", "postgresql")[0] == "ok"
    assert row(rows, "redis", f"redis://127.0.0.1:{running_redis.port}")[0] == "ok"
    for provider in ("emu-openai", "emu-responses", "emu-anthropic", "emu-gemini"):
        assert row(rows, "provider", provider)[0] == "ok"
    for model in ("gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "gemini-2.5-flash"):
        assert row(rows, "model", model)[0] == "ok"


def test_what_would_fail_requests_fails_the_check(
    tmp_path: Path, emulator: Emulator, refusing_upstream: str
) -> None:
    extra = """\
  ghost: {provider: emu-openai, model: gpt-ghost}
  refused-model: {provider: refusing, model: gpt-4o-mini}
  down-model: {provider: down, model: gpt-4o-mini}
redis: redis://:hunter2@127.0.0.1:1/0
"""
    config = config_for(tmp_path, emulator.url, f"sqlite:///{tmp_path}/db.sqlite", extra)
    text = config.read_text().replace(
        "models:\n",
        f'  refusing: {{type: openai, base_url: "{refusing_upstream}", api_key: sk-wrong}}\n'
        '  down: {type: openai, base_url: "http://127.0.0.1:9/v1", connect_timeout: 2}\n'
        "models:\n",
    )
    config.write_text(text)
    status, rows = check(config)
    assert status == 1
    assert row(rows, "model", "ghost")[0] == "warn"  # a local server may serve it anyway
    refused = row(rows, "provider", "refusing")
    assert refused[0] == "FAIL" and "HTTP 401: Incorrect API key provided" in refused[3]
    assert "cannot be reached" in row(rows, "provider", "down")[3]
    assert row(rows, "model", "down-model")[0] == "FAIL"
    redis_row = row(rows, "redis", "redis://127.0.0.1:1")
    assert redis_row[0] == "warn" and "hunter2" not in " ".join(redis_row)
    assert "sk-wrong" not in json.dumps(rows)
    status, rows = check(config, "--offline")
    assert status == 0 and {r[1] for r in rows} == {"config", "database", "redis"}


def test_an_unreachable_database_fails_the_check(tmp_path: Path, emulator: Emulator) -> None:
    database = "postgresql://relay:hunter2@127.0.0.1:1/polyrelay"
    status, rows = check(config_for(tmp_path, emulator.url, database, ""), "--offline")
    assert status == 1
    failed = row(rows, "database", "postgresql")
    assert failed[0] == "FAIL" and "cannot connect to PostgreSQL at 127.0.0.1:1" in failed[3]
    assert "hunter2" not in failed[3]


def test_a_base_url_with_credentials_is_shown_without_them(tmp_path: Path) -> None:
    config = tmp_path / "creds.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/creds.db\nproviders:\n"
        "  p: {type: openai, base_url: 'http://relay:hunter2@127.0.0.1:1/v1'}\n"
        "models:\n  m: {provider: p}\n"
    )
    command = [sys.executable, "-m", "polyrelay", "check", "--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "openai at http://127.0.0.1:1/v1: cannot be reached" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr


def _check_and_serve_refuse(config: Path, problem: str) -> None:
    """`check` and `serve` each exit 2 with one line naming `config` and `problem`."""
    for command in (["check", "--offline"], ["serve", "--port", "0"]):
        done = subprocess.run(
            [sys.executable, "-m", "polyrelay", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,  # serve would run: the test times out
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith(f"polyrelay: error: {config}{problem}"), done.stderr
        assert len(done.stderr.splitlines()) == 1 and done.stdout == ""


@pytest.mark.parametrize(
    ("provider", "models", "problem"),
    [
        ("timeout: .inf", "{provider: p}", ":3: providers.p.timeout: expected a finite number"),
        (
            'headers: {X-Team: "a\\r\\nX-Evil: 1"}',
            "{provider: p}",
            ":3: providers.p: headers: X-Team: the value has a line break (CR or LF)",
        ),
        ("timeout: 5", "{provider: p, model: ''}", ":5: models.m: model: must not be empty"),
    ],
)
def test_check_and_serve_refuse_loose_values_as_config_errors(
    tmp_path: Path, provider: str, models: str, problem: str
) -> None:
    config = tmp_path / "loose.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/loose.db\nproviders:\n"
        f"  p: {{type: openai, base_url: http://127.0.0.1:1/v1, {provider}}}\n"
        f"models:\n  m: {models}\n"
    )
    _check_and_serve_refuse(config, problem)


@pytest.mark.parametrize(
    ("search", "problem"),
    [
        ("{backend: searxng}", ":6: search: base_url: required for the searxng backend"),
        (
            '{backend: brave, api_key: "${POLYRELAY_TEST_UNSET_KEY}"}',
            ":6: search: api_key: required for the brave backend",
        ),
        ("{backend: tavily}", ":6: search: api_key: required for the tavily backend"),
    ],
)
def test_check_and_serve_refuse_a_search_backend_without_its_url_or_key(
    tmp_path: Path, search: str, problem: str
) -> None:
    """docs/web_search.md's backends: `check` said such a config was ready, and `serve`
    printed its banner, then a traceback from its start-up."""
    config = tmp_path / "search.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/search.db\nproviders:\n"
        "  p: {type: openai, base_url: http://127.0.0.1:1/v1}\n"
        f"models:\n  m: {{provider: p}}\nsearch: {search}\n"
    )
    _check_and_serve_refuse(config, problem)
