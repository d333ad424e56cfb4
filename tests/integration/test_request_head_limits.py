"""A request head (request line and headers) is bounded in size, header count and time.

uvicorn's httptools path had no bound at all: a 200 MB header was buffered whole and a
head that never ended was waited for forever. The size tests run on the real gateway
over a raw socket; the timeout tests on uvicorn with the served protocol and a short
timeout, since the real one is 30 s."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyrelay.http_protocol import HeadJoiningProtocol
from tests.integration.conftest import Emulator
from tests.integration.servers import (
    STATIC_KEY,
    free_port,
    gateway_config,
    start,
    stop,
    uvicorn_in_thread,
)

MIB = 1024 * 1024


class Served:
    def __init__(self, url: str, port: int, pid: int) -> None:
        self.url, self.port, self.pid = url, port, pid

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def served(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir: Path = tmp_path_factory.mktemp("head-limits")
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "polyrelay.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--config", str(config), "--port", str(port)]
    proc = start(args, url + "/", workdir / "log")
    yield Served(url, port, proc.pid)
    stop(proc)


def _read_reply(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_huge_header_gets_431_at_once_and_is_not_buffered(served: Served) -> None:
    httpx.get(served.url + "/")  # warm
    before = served.rss()
    chunk = b"a" * 65536
    sent, answered_after = 0, None
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-junk: ")
        try:
            # 24 MB of one header value, going on after the answer: the rest is dropped.
            while sent < 24 * MIB:
                sock.sendall(chunk)
                sent += len(chunk)
                if answered_after is None and select.select([sock], [], [], 0)[0]:
                    answered_after = sent
        except OSError:
            pass  # the gateway closed the connection after its answer
        reply = _read_reply(sock)
    # Sent before the answer showed: the socket buffers on the way hold a few MB (loopback
    # receive buffers grow to tens of MB), so this says "long before the end"; that the
    # gateway holds none of it is the RSS check below.
    assert answered_after is not None and answered_after < 12 * MIB, answered_after
    assert time.monotonic() - started < 5
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), reply[:200]
    assert b"connection: close\r\n" in reply
    assert b'"message":"The request head is too large' in reply
    assert served.rss() - before < 8 * MIB


def test_too_many_headers_get_431(served: Served) -> None:
    headers = b"".join(b"x-h%d: 1\r\n" % n for n in range(101))
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n" + headers + b"\r\n")
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_a_head_over_the_limit_in_one_piece_gets_431(served: Served) -> None:
    head = b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(head)
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_a_large_head_under_the_limit_and_a_large_body_still_work(served: Served) -> None:
    auth = {"authorization": f"Bearer {STATIC_KEY}"}
    models = httpx.get(served.url + "/v1/models", headers={**auth, "x-big": "a" * 60_000})
    assert models.status_code == 200, models.text
    text = "word " * (2 * MIB)  # a 10 MB body
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    answer = httpx.post(served.url + "/v1/chat/completions", json=body, headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["choices"][0]["message"]["content"].startswith("You said: word word")


class _QuickProtocol(HeadJoiningProtocol):
    head_timeout_seconds = 0.4
    linger_seconds = 0.2


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def quick() -> Iterator[int]:
    yield from uvicorn_in_thread(_ok, _QuickProtocol)


def test_a_head_that_never_ends_gets_408(quick: int) -> None:
    with socket.create_connection(("127.0.0.1", quick), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: a")
        for _ in range(3):  # a byte now and then does not reset the clock
            time.sleep(0.1)
            sock.sendall(b"a")
        reply = _read_reply(sock)
        assert 0.35 < time.monotonic() - started < 2
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), reply[:200]


def test_a_connection_that_never_sends_a_request_is_closed(quick: int) -> None:
    with socket.create_connection(("127.0.0.1", quick), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert 0.35 < time.monotonic() - started < 2


def test_a_kept_alive_connection_serves_heads_that_arrive_in_time(quick: int) -> None:
    with socket.create_connection(("127.0.0.1", quick), timeout=5) as sock:
        for _ in range(3):
            time.sleep(0.25)  # each head begins within the timeout of the last answer
            sock.sendall(b"GET / HTTP/1.1\r\n")
            time.sleep(0.25)  # and ends within the timeout of its own beginning
            sock.sendall(b"host: x\r\n\r\n")
            reply = sock.recv(1000)
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"ok")
