"""Helpers for the async task mode's integration tests: a gateway subprocess whose config
allows loopback webhooks and runs tasks with short leases, and a signed-webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.servers import STATIC_KEY, free_port, gateway_config, start, stop

WEBHOOK_KEY = b"polyrelay-test-webhook-key-32byt"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()
TASKS_CONFIG = f"""\
fetch: {{allow: ["127.0.0.1/32"]}}
tasks: {{workers: 4, lease_seconds: 3, retry_base_seconds: 0.5, poll_seconds: 0.2,
         webhook_secret: "{WEBHOOK_SECRET}"}}
"""


class TasksGateway:
    def __init__(
        self, workdir: Path, emulator_url: str, database_url: str = "", extra: str = ""
    ) -> None:
        """On `database_url` when given, else on a SQLite file in `workdir`; `extra` is
        more YAML for the config."""
        self.workdir = workdir
        self.database = workdir / "polyrelay.db"
        self.config = workdir / "polyrelay.yaml"
        database = database_url or self.database
        config = gateway_config(emulator_url, database, extra=TASKS_CONFIG + extra)
        self.config.write_text(config)
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.workdir / f"gateway-{port}.log"
        args = ["serve", "--config", str(self.config), "--port", str(port)]
        self.proc = start(args, self.url + "/", log)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown work runs
        self.proc.wait()

    def worker_ids(self) -> set[str]:
        """The task worker ids this gateway logged at start-up (its tasks' lease_owner)."""
        logged = "".join(log.read_text() for log in self.workdir.glob("gateway-*.log"))
        return set(re.findall(r"task worker (worker_[0-9a-f]+)", logged))

    def headers(self, key: str = STATIC_KEY) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def get(self, task_id: str, key: str = STATIC_KEY, wait: float = 0) -> httpx.Response:
        params = {"wait": str(wait)} if wait else {}
        return httpx.get(
            f"{self.url}/v1/tasks/{task_id}", params=params, headers=self.headers(key), timeout=90
        )

    def wait_final(self, task_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task: dict[str, Any] = self.get(task_id, wait=min(10, timeout)).json()
            if task["status"] in ("success", "failed", "cancelled"):
                return task
            assert time.monotonic() < deadline, f"task still {task['status']}: {task}"


class GatewayPair:
    """Two gateways on one database, as replicas or separate processes of a deployment
    run; the CLI acts on the same database."""

    def __init__(self, one: TasksGateway, other: TasksGateway) -> None:
        self.one = one
        self.other = other

    def cli(self, *args: str) -> str:
        command = [sys.executable, "-m", "polyrelay", *args, "--config", str(self.one.config)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def new_key(self, name: str, *options: str) -> tuple[str, str]:
        """A key made by the CLI: its id and secret."""
        out = self.cli("keys", "create", "--name", name, *options)
        key_id = out.split("Created key ")[1].split()[0]
        return key_id, next(line for line in out.splitlines() if line.startswith("sk-"))


def running_pair(
    tmp_path_factory: pytest.TempPathFactory, emulator_url: str, database_url: str, extra: str = ""
) -> Iterator[tuple[TasksGateway, TasksGateway]]:
    """Two started gateways on `database_url`, for a fixture to `yield from`; the second
    starts once the first answers. Stopped afterwards, unless a test killed one."""
    gateways = (
        TasksGateway(tmp_path_factory.mktemp("gateway-one"), emulator_url, database_url, extra),
        TasksGateway(tmp_path_factory.mktemp("gateway-other"), emulator_url, database_url, extra),
    )
    for gateway in gateways:
        gateway.start()
    yield gateways
    for gateway in gateways:
        if gateway.proc is not None and gateway.proc.poll() is None:
            stop(gateway.proc)


def openai_client(gateway: TasksGateway, key: str = STATIC_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def submit_slow(gateway: TasksGateway, text: str, delay_ms: int) -> str:
    """An async Messages task whose upstream answer takes `delay_ms`; its id."""
    response = httpx.post(
        f"{gateway.url}/v1/messages",
        headers={**gateway.headers(), "anthropic-version": "2023-06-01"},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": f"[[delay {delay_ms}]] {text}"}],
            "async": True,
        },
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def running(workdir: Path, emulator_url: str) -> Iterator[TasksGateway]:
    """A started TasksGateway for a fixture to `yield from`; stopped afterwards."""
    gateway = TasksGateway(workdir, emulator_url)
    gateway.start()
    yield gateway
    assert gateway.proc is not None
    stop(gateway.proc)


def verify_signature(key: bytes, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written from the spec (not the server's code)."""
    signed = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if "," in s]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


class Receiver:
    """Records every POST; answers 500 to the first `failures` of them, then 200."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self.received = threading.Event()
        self.url = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = 500 if len(receiver.calls) < receiver.failures else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.calls.append((headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                if status == 200:
                    receiver.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def receiving(failures: int = 1) -> Iterator[Receiver]:
    receiver = Receiver(failures)
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
