"""The served protocol (HeadJoiningProtocol) on a real uvicorn and a raw socket: a head
whose body comes later is not held back, and every response arrives whole and exact."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from polyrelay.http_protocol import HeadJoiningProtocol
from tests.integration.servers import uvicorn_in_thread


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/late":
        await asyncio.sleep(0.6)  # a slow upstream's first token
    for n in range(3):
        await send({"type": "http.response.body", "body": b"data: %d\n\n" % n, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    yield from uvicorn_in_thread(_app, HeadJoiningProtocol)


def _request(port: int, path: str) -> tuple[float, float, bytes]:
    """(seconds to the end of the head, seconds to the end of the body, all bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        data, head_at = b"", None
        while not data.endswith(b"0\r\n\r\n") and not (path == "/empty" and head_at):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
            if head_at is None and b"\r\n\r\n" in data:
                head_at = time.monotonic() - started
        assert head_at is not None
        return head_at, time.monotonic() - started, data


def test_a_late_bodys_head_is_not_held(server: int) -> None:
    head_at, done_at, data = _request(server, "/late")
    assert head_at < 0.3 and done_at >= 0.6
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in data
    assert data.endswith(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")


def test_a_ready_body_arrives_whole_after_its_head(server: int) -> None:
    _, _, data = _request(server, "/now")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"


def test_a_response_without_a_body_still_gets_its_head(server: int) -> None:
    _, _, data = _request(server, "/empty")
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n") and data.endswith(b"\r\n\r\n")
