"""Real servers for integration tests: the emulator and the gateway as subprocesses on
loopback ports, exactly as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from polyrelay.storage import KeyLimits, open_database
from polyrelay.storage.key_limits import NO_LIMITS

STATIC_KEY = "sk-test-" + "a" * 40
LIMITED_KEY = "sk-limited-" + "b" * 37
RPM_KEY = "sk-rpm-" + "c" * 41
EXPIRED_KEY = "sk-expired-" + "d" * 37

# One model per upstream type, all served by the emulator.
MODELS_BY_PROVIDER = {
    "openai": "gpt-4o-mini",
    "openai-responses": "gpt-5-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


def start(
    args: list[str], url: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyrelay", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    wait_http(url, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def configured_gateway(emulator: str, workdir: Path, extra: str) -> Iterator[str]:
    """A gateway on the test config plus the YAML `extra`, in `workdir` (its database and
    its log, `workdir / "log"`); yields its URL, then stops it."""
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator, workdir / "polyrelay.db", extra=extra))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        ["serve", "--config", str(config), "--port", str(port)], url + "/", workdir / "log"
    )
    try:
        yield url
    finally:
        stop(proc)


def gateway_config(emulator: str, database: Path | str, extra: str = "") -> str:
    """The test config; `database` is a SQLite file or a database URL."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    return f"""\
listen: 127.0.0.1:0
database: {url}
default_model: claude-sonnet-4-5
providers:
  emu-openai: {{type: openai, base_url: "{emulator}/v1", api_key: up-openai}}
  emu-responses: {{type: openai-responses, base_url: "{emulator}/v1", api_key: up-openai}}
  emu-anthropic: {{type: anthropic, base_url: "{emulator}", api_key: up-anthropic}}
  emu-gemini: {{type: gemini, base_url: "{emulator}", api_key: up-gemini}}
  dead: {{type: openai, base_url: "http://127.0.0.1:9/v1", connect_timeout: 2}}
  slow: {{type: openai, base_url: "{emulator}/v1", timeout: 1}}
models:
  gpt-4o-mini: {{provider: emu-openai}}
  gpt-5-mini: {{provider: emu-responses}}
  claude-sonnet-4-5: {{provider: emu-anthropic, max_output_tokens: 64000}}
  gemini-2.5-flash: {{provider: emu-gemini}}
  unreachable-model: {{provider: dead, model: gpt-4o-mini}}
  alias-mini: {{provider: emu-openai, model: gpt-4o-mini}}
  plain-mini: {{provider: emu-openai, model: gpt-4o-mini, reasoning: false}}
  alias-responses: {{provider: emu-responses, model: gpt-5-mini}}
  slow-model: {{provider: slow, model: gpt-4o-mini}}
keys:
  - {{key: "{STATIC_KEY}", name: ci}}
  - {{key: "{LIMITED_KEY}", name: limited, models: [gpt-4o-mini]}}
  - {{key: "{RPM_KEY}", name: rpm-limited, rpm: 2}}
  - {{key: "{EXPIRED_KEY}", name: expired, expires_at: "2020-01-01"}}
{extra}"""


def uvicorn_in_thread(app: Any, protocol: type) -> Iterator[int]:
    """`app` on a real uvicorn with `protocol` as its HTTP protocol, in a thread of this
    process, for a fixture to `yield from`: yields the port."""
    import asyncio
    import threading

    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, lifespan="off")
    config.log_level = "warning"
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield port
    instance.should_exit = True
    thread.join(timeout=5)


def new_key(db: Path, name: str, limits: KeyLimits = NO_LIMITS) -> tuple[str, str]:
    """A key of its own (id, secret) in the gateway's SQLite file `db`, made as
    `polyrelay keys create` makes one: a test that reads usage reads only its own rows."""
    database = open_database(f"sqlite:///{db}")
    try:
        key, secret = database.keys.create(name, None, limits)
    finally:
        database.close()
    return key.id, secret
