"""A run stopped while its upstream call is under way (an async task or a background
response cancelled by its owner) still gets its usage row: the call went out. So does a
stream left before its end (its HTTP client gone, its WebSocket closed, its background
response cancelled), with the tokens reported until then; every such row says 499. Real
gateway → the emulator, whose `[[delay MS]]` holds a call and whose paced streams
(`--tokens-per-second`, conftest) are still running when the client leaves."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import new_key


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("usage-cancelled")


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, workdir: Path) -> Iterator[Gateway]:
    yield from serving(workdir, emulator)


def cancelled_key(workdir: Path) -> tuple[str, str]:
    return new_key(workdir / "polyrelay.db", "cancelled")


def wait_upstream(emulator: Emulator, marker: str) -> None:
    """Until the emulator has the call whose prompt holds `marker`."""
    deadline = time.monotonic() + 10
    while not any(marker in str(r["body"]) for r in emulator.requests()):
        assert time.monotonic() < deadline, "the call never reached the upstream"
        time.sleep(0.02)


def rows(gateway: Gateway, workdir: Path, key: tuple[str, str]) -> list[tuple[Any, ...]]:
    """The key's rows, once there is one (GET /v1/usage commits the parked ones)."""
    key_id, secret = key
    headers = {"authorization": f"Bearer {secret}"}
    deadline = time.monotonic() + 5
    while not httpx.get(gateway.url + "/v1/usage", headers=headers).json()["data"]:
        if time.monotonic() > deadline:
            return []
        time.sleep(0.05)
    with sqlite3.connect(workdir / "polyrelay.db") as conn:
        return conn.execute(
            "SELECT model, input_tokens, output_tokens, status FROM usage WHERE key_id = ?",
            (key_id,),
        ).fetchall()


SUBMISSIONS = {
    # kind: (submission path, body, cancel path)
    "task": (
        "/v1/messages",
        {"model": "claude-sonnet-4-5", "max_tokens": 50, "async": True},
        "/v1/tasks/{id}/cancel",
    ),
    "background": (
        "/v1/responses",
        {"model": "gpt-5-mini", "background": True},
        "/v1/responses/{id}/cancel",
    ),
}


@pytest.mark.parametrize("kind", list(SUBMISSIONS))
def test_a_run_cancelled_during_its_call_is_recorded(
    gateway: Gateway, emulator: Emulator, workdir: Path, kind: str
) -> None:
    key = cancelled_key(workdir)
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    path, body, cancel = SUBMISSIONS[kind]
    marker = uuid.uuid4().hex
    text = f"[[delay 3000]] {marker}"
    prompt = (
        {"messages": [{"role": "user", "content": text}]} if kind == "task" else {"input": text}
    )
    submitted = httpx.post(gateway.url + path, json={**body, **prompt}, headers=headers)
    assert submitted.status_code in (200, 202), submitted.text
    wait_upstream(emulator, marker)
    cancelled = httpx.post(gateway.url + cancel.format(id=submitted.json()["id"]), headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert rows(gateway, workdir, key) == [(body["model"], 0, 0, 499)]


ABANDONED = {
    # path: (model, how the stream is asked for): the fast path, and a translated stream
    "/v1/messages": {"model": "claude-sonnet-4-5", "max_tokens": 1000},
    "/v1/chat/completions": {"model": "claude-sonnet-4-5"},
}


@pytest.mark.parametrize("path", list(ABANDONED))
def test_a_stream_its_client_leaves_is_recorded_as_closed(
    gateway: Gateway, emulator: Emulator, workdir: Path, path: str
) -> None:
    """499, as for any run stopped before its end, with the input tokens the upstream's
    first event reported (the stream was 200 for its client, who never saw it end)."""
    key = cancelled_key(workdir)
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    marker = uuid.uuid4().hex
    body = {
        **ABANDONED[path],
        "stream": True,
        "messages": [{"role": "user", "content": f"[[words 20000]] {marker}"}],
    }
    with httpx.stream("POST", gateway.url + path, json=body, headers=headers) as streamed:
        assert streamed.status_code == 200
        chunks = streamed.iter_bytes()
        next(chunks)
        time.sleep(0.5)  # well into the stream (20,000 words at 1,000 a second)
        next(chunks)
    [(model, input_tokens, _, status)] = rows(gateway, workdir, key)
    assert (model, status) == ("claude-sonnet-4-5", 499)
    assert input_tokens > 0


@pytest.mark.parametrize("path", list(ABANDONED))
def test_a_short_stream_its_client_leaves_early_is_recorded_as_closed(
    gateway: Gateway, emulator: Emulator, workdir: Path, path: str
) -> None:
    """Left 50 ms in, a stream that would end at 150 ms, before the SSE response watches
    for the disconnect (sse_response._WATCH_AFTER): its frames went into the lost
    connection to the end, and its row said 200."""
    key = cancelled_key(workdir)
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    words = " ".join(["word"] * 15)  # at 100 tokens a second: 150 ms
    body = {
        **ABANDONED[path],
        "stream": True,
        "messages": [{"role": "user", "content": f"[[pace 100]] {words} {uuid.uuid4().hex}"}],
    }
    with httpx.stream("POST", gateway.url + path, json=body, headers=headers) as streamed:
        assert streamed.status_code == 200
        time.sleep(0.05)
    [(model, input_tokens, _, status)] = rows(gateway, workdir, key)
    assert (model, status) == ("claude-sonnet-4-5", 499)
    assert input_tokens > 0


def test_a_websocket_turn_its_client_leaves_is_recorded_as_closed(
    gateway: Gateway, workdir: Path
) -> None:
    """The connection closed mid-stream: 499, as the turn's log line says (it said 200)."""
    key = cancelled_key(workdir)
    url = gateway.url.replace("http", "ws") + "/v1/responses"
    with ws_client.connect(url, additional_headers={"authorization": f"Bearer {key[1]}"}) as ws:
        turn = {"type": "response.create", "model": "claude-sonnet-4-5", "store": False}
        ws.send(json.dumps({**turn, "input": "[[pace 20]] " + "word " * 100}))
        assert json.loads(ws.recv(timeout=5))["type"] == "response.created"
    [(model, input_tokens, _, status)] = rows(gateway, workdir, key)
    assert (model, status) == ("claude-sonnet-4-5", 499)
    assert input_tokens > 0


def test_a_streamed_background_response_cancelled_mid_stream_is_recorded_as_closed(
    gateway: Gateway, emulator: Emulator, workdir: Path
) -> None:
    """Cancelled by its owner while the run reads the stream: 499 (it said 200)."""
    key = cancelled_key(workdir)
    headers = {"authorization": f"Bearer {key[1]}"}
    marker = uuid.uuid4().hex
    body = {
        "model": "claude-sonnet-4-5",
        "background": True,
        "stream": True,
        "input": f"[[words 20000]] {marker}",
    }
    with httpx.stream("POST", gateway.url + "/v1/responses", json=body, headers=headers) as r:
        first = next(line for line in r.iter_lines() if line.startswith("data:"))
    response_id = json.loads(first[5:])["response"]["id"]
    wait_upstream(emulator, marker)
    time.sleep(0.3)  # into the stream
    cancel = f"{gateway.url}/v1/responses/{response_id}/cancel"
    assert httpx.post(cancel, headers=headers).json()["status"] == "cancelled"
    [(model, input_tokens, _, status)] = rows(gateway, workdir, key)
    assert (model, status) == ("claude-sonnet-4-5", 499)
    assert input_tokens > 0
