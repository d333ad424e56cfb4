"""A request body must arrive in time: a grace period plus one second per so many bytes
(pipeline/body.py `read_body`). A body trickled a byte at a time (slow loris, with a
valid key) gets a 408 in the client's protocol's error shape and the connection closes;
a body at a reasonable pace, a stream and a WebSocket are not cut.

The gateway runs in a thread of this process on uvicorn with the served protocol, so the
bound can be shortened for the test (the real one is 30 s plus 1 s per KiB)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from polyrelay.app import Deps, create_app
from polyrelay.http_protocol import HeadJoiningProtocol
from polyrelay.pipeline import body as body_reading
from polyrelay.settings import load_settings
from polyrelay.storage import open_configured
from tests.integration.conftest import Emulator
from tests.integration.servers import STATIC_KEY, free_port, gateway_config

GRACE = 0.6
RATE = 10_000  # bytes per second past the grace


class _QuickLinger(HeadJoiningProtocol):
    linger_seconds = 0.3


@pytest.fixture(scope="module")
def port(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    workdir: Path = tmp_path_factory.mktemp("body-timeout")
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "polyrelay.db"))
    settings = load_settings(str(config), {})
    app = create_app(settings, Deps(open_configured(settings)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(body_reading, "BODY_GRACE_SECONDS", GRACE)
        patch.setattr(body_reading, "BODY_MIN_BYTES_PER_SECOND", RATE)
        number = free_port()
        served = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=number,
                http=_QuickLinger,
                ws="websockets-sansio",
                log_level="warning",
            )
        )
        thread = threading.Thread(target=lambda: asyncio.run(served.serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not served.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.01)
        yield number
        served.should_exit = True
        thread.join(timeout=10)


def _head(path: str, length: int, auth: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\n{auth}\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """The head and body of one answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, body
        body += chunk
    return head, body


def _trickle(
    port: int, path: str, auth: str, byte: bytes = b" "
) -> tuple[bytes, dict[str, object], float, bool]:
    """Send a head promising 1000 bytes, then `byte` every 50 ms until an answer comes.
    Returns the answer's head and body, when it came, and whether the connection closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(_head(path, 1000, auth))
        sock.settimeout(0.05)
        while True:
            sock.sendall(byte)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                pass
            assert time.monotonic() - started < 5, "no answer to a trickled body"
        answered = time.monotonic() - started
        sock.settimeout(5)
        head, body = _read_answer(sock)
        sock.settimeout(2)
        try:
            closed = sock.recv(100) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
    return head, json.loads(body), answered, closed


def test_a_trickled_body_gets_408_in_the_openai_shape_and_the_connection_closes(
    port: int,
) -> None:
    head, body, answered, closed = _trickle(
        port, "/v1/chat/completions", f"authorization: Bearer {STATIC_KEY}"
    )
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert GRACE <= answered < GRACE + 1.5
    error = body["error"]
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error" and error["code"] == "request_timeout"
    assert "did not arrive in time" in error["message"]
    assert closed


def test_a_trickled_body_gets_408_in_the_anthropic_shape(port: int) -> None:
    head, body, _, closed = _trickle(port, "/v1/messages", f"x-api-key: {STATIC_KEY}")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert closed


def test_a_body_that_never_begins_gets_408(port: int) -> None:
    head, _, answered, closed = _trickle(
        port, "/v1/chat/completions", f"authorization: Bearer {STATIC_KEY}", byte=b""
    )
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert GRACE <= answered < GRACE + 1.5
    assert closed


def test_a_body_at_a_reasonable_pace_is_not_cut(port: int) -> None:
    text = "word " * 20_000  # 100 KB in 2 s: 50 KB/s, past the grace, above the rate
    payload = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    ).encode()
    auth = f"authorization: Bearer {STATIC_KEY}"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_head("/v1/chat/completions", len(payload), auth))
        step = 5_000
        for offset in range(0, len(payload), step):
            sock.sendall(payload[offset : offset + step])
            time.sleep(0.1)
        assert time.monotonic() - started > 3 * GRACE
        head, body = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 200 "), head + body[:300]
    assert json.loads(body)["choices"][0]["message"]["content"].startswith("You said: word")


def test_a_stream_longer_than_the_bound_is_not_cut(port: int) -> None:
    text = "word " * 1_500  # echoed at 1000 tokens a second: a stream of about 1.5 s
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": text}]}
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    started = time.monotonic()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as reply:
        assert reply.status_code == 200
        lines = [line for line in reply.iter_lines() if line]
    assert time.monotonic() - started > 2 * GRACE
    assert lines[-1] == "data: [DONE]"


def test_a_websocket_idle_past_the_bound_still_works(port: int) -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=STATIC_KEY)
    with client.responses.connect() as connection:
        time.sleep(2 * GRACE)
        connection.response.create(model="gpt-4o-mini", input="still there", store=False)
        events = []
        for event in connection:
            events.append(event)
            if event.type in ("response.completed", "response.failed", "error"):
                break
    assert events[-1].type == "response.completed", events[-1]
