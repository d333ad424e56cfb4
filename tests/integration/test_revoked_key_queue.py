"""A key revoked while its work is queued stops spending upstream: its async tasks, its
Message Batch's requests and its background responses end failed (errored, for the
batch) with a 401 saying so, without a call to the emulator. A real gateway process; the
revocation is the CLI's, from another process, as an operator would make it. A static
key that expires while its work is queued likewise."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyrelay.storage import Database, open_database
from polyrelay.tasks.model import FINAL_STATUSES, TaskStatus
from tests.integration.conftest import Emulator
from tests.integration.servers import gateway_config, stop
from tests.integration.tasks_support import (
    TASKS_CONFIG,
    GatewayPair,
    TasksGateway,
    running,
    submit_slow,
)

BLOCKING_MS = 4000
"""The static key's tasks hold every worker slot this long, so the doomed key's work is
still queued when the key is revoked."""
WORKERS = 4
ANTHROPIC = {"anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("revoked-queue"), emulator.url)


@pytest.fixture
def database(gateway: TasksGateway) -> Iterator[Database]:
    """The gateway's database, read as another process would."""
    opened = open_database(f"sqlite:///{gateway.database}")
    yield opened
    opened.close()


def seen_upstream(emulator: Emulator, marker: str) -> int:
    return sum(marker in json.dumps(r.get("body")) for r in emulator.requests())


def hold_every_slot(
    gateway: TasksGateway, emulator: Emulator, marker: str, ms: int = BLOCKING_MS
) -> None:
    for n in range(WORKERS):
        submit_slow(gateway, f"{marker} {n}", ms)
    deadline = time.monotonic() + 10
    while seen_upstream(emulator, marker) < WORKERS:
        assert time.monotonic() < deadline, "the blocking tasks did not start"
        time.sleep(0.05)


def post(gateway: TasksGateway, path: str, secret: str, body: dict[str, Any]) -> Any:
    headers = {"authorization": f"Bearer {secret}", **ANTHROPIC}
    reply = httpx.post(gateway.url + path, headers=headers, json=body, timeout=30)
    assert reply.status_code in (200, 202), reply.text
    return reply.json()


def streamed_background(gateway: TasksGateway, secret: str, text: str) -> httpx.Response:
    client = httpx.Client(timeout=60)
    request = client.build_request(
        "POST",
        f"{gateway.url}/v1/responses",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-5-mini", "input": text, "background": True, "stream": True},
    )
    return client.send(request, stream=True)


def events(reply: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in reply.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


def until_ended(database: Database, task_ids: list[str]) -> None:
    deadline = time.monotonic() + 30
    for task_id in task_ids:
        while (task := database.tasks.get(task_id)) is None or task.status not in FINAL_STATUSES:
            assert time.monotonic() < deadline, f"{task_id} did not end: {task}"
            time.sleep(0.1)


def assert_refused_as_revoked(database: Database, task_id: str, kind: str) -> None:
    task = database.tasks.get(task_id)
    assert task is not None and task.status is TaskStatus.FAILED, task
    assert task.error is not None and task.error.status == 401, task.error
    assert "has been revoked" in task.error.message
    assert task.error.type == kind


def test_a_revoked_keys_queued_work_ends_failed_without_reaching_the_upstream(
    gateway: TasksGateway, emulator: Emulator, database: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    key_id, secret = GatewayPair(gateway, gateway).new_key(f"leaked-{tag}")
    hold_every_slot(gateway, emulator, f"blocker-{tag}")
    doomed = f"doomed-{tag} [[delay 200]]"

    tasks = [
        post(gateway, "/v1/messages", secret, {"messages": f"{doomed} {n}", "async": True})["id"]
        for n in range(3)
    ]
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": doomed}]}
    chat_task = post(gateway, "/v1/chat/completions", secret, {**chat, "async": True})["id"]
    requests = [
        {"custom_id": f"r{n}", "params": {"model": MODEL, "max_tokens": 5, "messages": doomed}}
        for n in range(10)
    ]
    batch = post(gateway, "/v1/messages/batches", secret, {"requests": requests})
    background = {"model": "gpt-5-mini", "input": doomed, "background": True}
    response_id = post(gateway, "/v1/responses", secret, background)["id"]
    stream = streamed_background(gateway, secret, doomed)
    stream_events = events(stream)
    streamed_id = next(stream_events)["response"]["id"]  # submitted: it is queued

    GatewayPair(gateway, gateway).cli("keys", "revoke", key_id)

    try:  # its followers, authorized at submission, read how the run ended
        ending = [e for e in stream_events if e["type"].startswith("response.")][-1]
    finally:
        stream.close()
    assert ending["type"] == "response.failed"
    assert "has been revoked" in ending["response"]["error"]["message"]
    until_ended(database, [*tasks, chat_task, response_id, streamed_id])
    deadline = time.monotonic() + 30
    while database.batches.state(batch["id"]).ended_at is None:
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.1)

    assert seen_upstream(emulator, f"doomed-{tag}") == 0
    for task_id in tasks:
        assert_refused_as_revoked(database, task_id, "authentication_error")
    assert_refused_as_revoked(database, chat_task, "invalid_request_error")  # OpenAI's 401
    assert database.batches.state(batch["id"]).counts == {"failed": len(requests)}
    results = list(database.batches.results(batch["id"]))
    assert len(results) == len(requests)
    for result in results:  # the results file says `errored` with this error
        assert result.status == "failed" and result.error is not None
        assert (result.error.type, result.error.status) == ("authentication_error", 401)
        assert "has been revoked" in result.error.message
    for resp_id in (response_id, streamed_id):
        stored = database.responses.get(resp_id, key_id)
        assert stored is not None and stored.status == "failed"
        assert "has been revoked" in stored.response["error"]["message"]


SHORT_LIVED = "sk-short-lived-" + "e" * 33
LIFETIME = 8
"""Seconds the static key lives from the test's start: enough to start and submit."""


def test_a_static_keys_queued_work_fails_once_the_key_has_expired(
    emulator: Emulator, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    expires = int(time.time()) + LIFETIME
    moment = datetime.fromtimestamp(expires, UTC).isoformat()
    gateway = TasksGateway(tmp_path, emulator.url)
    # The line continues the test config's `keys:` list.
    entry = f'  - {{key: "{SHORT_LIVED}", name: short-lived, expires_at: "{moment}"}}\n'
    gateway.config.write_text(gateway_config(emulator.url, gateway.database, entry + TASKS_CONFIG))
    gateway.start()
    assert gateway.proc is not None
    database = open_database(f"sqlite:///{gateway.database}")
    try:
        held_ms = int((expires - time.time() + 1.5) * 1000)  # until the key has expired
        hold_every_slot(gateway, emulator, f"blocker-{tag}", held_ms)
        doomed = f"doomed-{tag} [[delay 200]]"
        body = {"messages": doomed, "async": True}
        tasks = [post(gateway, "/v1/messages", SHORT_LIVED, body)["id"] for _ in range(2)]
        background = {"model": "gpt-5-mini", "input": doomed, "background": True}
        response_id = post(gateway, "/v1/responses", SHORT_LIVED, background)["id"]
        until_ended(database, [*tasks, response_id])

        assert seen_upstream(emulator, f"doomed-{tag}") == 0
        for task_id in [*tasks, response_id]:
            task = database.tasks.get(task_id)
            assert task is not None and task.error is not None, task
            assert task.status is TaskStatus.FAILED and task.error.status == 401
            assert "expired at" in task.error.message
    finally:
        database.close()
        stop(gateway.proc)
