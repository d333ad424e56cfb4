"""read_body: a body the server already holds is taken without a deadline (a timer per
request costs ~8 µs); one still arriving is read under it (the 408 itself is tested end to
end in tests/integration/test_request_body_timeout.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from polyrelay.errors import RequestTooLargeError
from polyrelay.pipeline import handler


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
