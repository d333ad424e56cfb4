"""read_body: a body the server already holds is taken without a deadline (a timer per
request costs ~8 µs); one still arriving is read under it (the 408 itself is tested end to
end in tests/integration/test_request_body_timeout.py). A compressed body is decoded on
the loop while small, in a thread when large."""

from __future__ import annotations

import asyncio
import gzip
import threading
from typing import Any

import pytest
import zstandard
from starlette.requests import Request

from polyrelay.errors import RequestTooLargeError
from polyrelay.pipeline import body, handler

LIMIT = 32 * 1024 * 1024


class Cycle:
    """What read_body sees of uvicorn's request cycle: `receive`, and `more_body`."""

    def __init__(self, chunks: list[bytes], *, whole: bool) -> None:
        self.more_body = not whole
        self._chunks = chunks

    async def receive(self) -> dict[str, Any]:
        body = self._chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self._chunks)}


def request_over(cycle: Cycle) -> Request:
    return Request({"type": "http", "method": "POST", "headers": []}, cycle.receive)


def read(cycle: Cycle, limit: int = 100) -> bytes:
    return asyncio.run(handler.read_body(request_over(cycle), limit))


def test_a_body_held_whole_is_read_without_a_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_deadline(*args: Any) -> Any:
        raise AssertionError("a deadline for a body already held")

    monkeypatch.setattr(handler.asyncio, "timeout_at", no_deadline)
    assert read(Cycle([b'{"a":', b"1}"], whole=True)) == b'{"a":1}'
    with pytest.raises(RequestTooLargeError):
        read(Cycle([b"x" * 101], whole=True))


def test_a_body_still_arriving_is_read_under_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    armed: list[float] = []
    real = asyncio.timeout_at

    def deadline(when: float) -> Any:
        armed.append(when)
        return real(when)

    monkeypatch.setattr(handler.asyncio, "timeout_at", deadline)
    assert read(Cycle([b'{"a":', b"1}"], whole=False)) == b'{"a":1}'
    assert len(armed) == 1
    with pytest.raises(RequestTooLargeError):
        read(Cycle([b"x" * 60, b"x" * 60], whole=False))


def compressed_request(body: bytes, coding: str) -> Request:
    headers = [(b"content-encoding", coding.encode())]
    cycle = Cycle([body], whole=True)
    return Request({"type": "http", "method": "POST", "headers": headers}, cycle.receive)


def test_a_small_compressed_body_is_decoded_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoThreads:
        def submit(self, *args: Any) -> Any:
            raise AssertionError("a thread for a small body")

    monkeypatch.setattr(body, "DECODE_THREADS", NoThreads())
    request = compressed_request(gzip.compress(b'{"a":1}'), "gzip")
    assert asyncio.run(handler.read_body(request, LIMIT)) == b'{"a":1}'
    with pytest.raises(RequestTooLargeError):  # a limit under the inline size: on the loop
        asyncio.run(handler.read_body(compressed_request(gzip.compress(bytes(101)), "gzip"), 100))


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_a_large_decode_leaves_the_loop_free(coding: str) -> None:
    """A bomb decoded to the 32 MiB limit takes tens of ms: the loop keeps serving meanwhile
    (on the loop itself, the ticker would not run once before the 413)."""
    zeros = bytes(LIMIT + 1)
    bomb = gzip.compress(zeros, 1) if coding == "gzip" else zstandard.compress(zeros)
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        try:
            with pytest.raises(RequestTooLargeError):
                await handler.read_body(compressed_request(bomb, coding), LIMIT)
            counted = ticks
        finally:
            done.set()
            await task
        ticks = counted

    asyncio.run(main())
    assert ticks > 10


def test_large_decodes_keep_off_the_default_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite store's calls run on the default executor: a flood of bombs there would
    hold them up. Large bodies are decoded on two threads of their own."""
    threads: list[str] = []
    real = body.decoded_body

    def recorded(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(body, "decoded_body", recorded)
    large = gzip.compress(bytes(2 * 1024 * 1024), 1)
    assert len(asyncio.run(handler.read_body(compressed_request(large, "gzip"), LIMIT))) == 2**21
    assert threads[0] == threading.main_thread().name  # the first MiB, on the loop
    assert threads[1].startswith("body-decode")
