"""A gateway whose PostgreSQL stops, then comes back: while it is down, every endpoint
answers in its client's protocol with a 503 and `retry-after` (which the SDKs raise as their
status error and retry), never the server's plain-text 500; once it is back, the same calls
work again within seconds, on connections the gateway replaces by itself.

The cluster is this module's own (the session's is shared by other tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import STATIC_KEY, stop
from tests.integration.tasks_support import TasksGateway, submit_slow
from tests.postgres_server import PrivateCluster, private_cluster

HELLO: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    yield from private_cluster("polyrelay-pg-outage-")


@pytest.fixture(scope="module")
def gateway(
    cluster: PrivateCluster, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TasksGateway]:
    gateway = TasksGateway(tmp_path_factory.mktemp("gateway"), emulator.url, cluster.url)
    gateway.start()
    yield gateway
    assert gateway.proc is not None
    stop(gateway.proc)


def _limited_key(gateway: TasksGateway) -> str:
    """A key of the database with an rpm limit: its requests read and write the database
    (the key, its counters) before they reach the upstream."""
    command = [sys.executable, "-m", "polyrelay", "keys", "create", "--name", "outage"]
    command += ["--rpm", "1000", "--config", str(gateway.config)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    secret = next(word for word in out.split() if word.startswith("sk-"))
    return secret


def test_an_outage_is_a_503_in_each_protocol_and_recovery_is_automatic(
    cluster: PrivateCluster, gateway: TasksGateway
) -> None:
    gpt = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    limited = openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=_limited_key(gateway), max_retries=0
    )
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    stored = gpt.responses.create(model="gpt-4o-mini", input="keep this")
    task_id = submit_slow(gateway, "a task", 0)
    headers = gateway.headers()

    def get_json(path: str, extra: dict[str, str] | None = None) -> httpx.Response:
        answer = httpx.get(gateway.url + path, headers={**headers, **(extra or {})}, timeout=30)
        if answer.status_code >= 400:
            raise _Refused(answer)
        return answer

    calls: dict[str, Callable[[], object]] = {
        "GET /v1/responses/{id}": lambda: gpt.responses.retrieve(stored.id),
        "GET /v1/tasks/{id}": lambda: get_json(f"/v1/tasks/{task_id}"),
        "GET /v1/usage": lambda: get_json("/v1/usage"),
        "GET /v1/usage (Anthropic)": lambda: get_json("/v1/usage", {"anthropic-version": "1"}),
        "GET /v1/messages/batches": lambda: claude.messages.batches.list(),
        "POST /v1/chat/completions": lambda: limited.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        ),
    }
    for call in calls.values():  # all fine before the outage
        call()

    cluster.stop()
    try:
        for name, call in calls.items():
            with pytest.raises((openai.APIStatusError, anthropic.APIStatusError, _Refused)) as info:
                call()
            answer: httpx.Response = info.value.response
            assert answer.status_code == 503, (name, answer.text)
            assert answer.headers["retry-after"] == "1", name
            document = answer.json()
            if "Anthropic" in name or "batches" in name:
                assert document["type"] == "error", name
                assert document["error"]["type"] == "api_error", name
            else:
                assert set(document["error"]) == {"message", "type", "param", "code"}, name
                assert document["error"]["type"] == "server_error", name
            assert "database is unavailable" in document["error"]["message"], name
    finally:
        cluster.start()

    # Back: each call works again within a few seconds (the first calls may still meet a
    # connection the restart broke, and get a 503 the SDKs would retry).
    deadline = time.monotonic() + 10
    for name, call in calls.items():
        while True:
            try:
                call()
                break
            except (openai.APIStatusError, anthropic.APIStatusError, _Refused) as exc:
                assert exc.response.status_code == 503, (name, exc.response.text)
                assert time.monotonic() < deadline, f"{name} still failing: {exc}"
                time.sleep(0.2)


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.text)
        self.response = response
