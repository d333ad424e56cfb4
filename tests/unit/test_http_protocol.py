"""HeadJoiningTransport: a response head waits for the first body write of the same loop
turn, never longer, and no byte changes place."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from polyrelay.http_protocol import HeadJoiningTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 7


def _in_a_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def _joined() -> tuple[HeadJoiningTransport, _Recorder]:
    recorder = _Recorder()
    return HeadJoiningTransport(recorder, asyncio.get_running_loop()), recorder  # type: ignore[arg-type]


@_in_a_loop
async def test_a_head_and_the_body_of_the_same_turn_go_in_one_write() -> None:
    transport, recorder = _joined()
    transport.write(HEAD)
    transport.write(b"5\r\nhello\r\n")
    transport.write(b"0\r\n\r\n")
    await asyncio.sleep(0)
    assert recorder.writes == [HEAD + b"5\r\nhello\r\n", b"0\r\n\r\n"]


@_in_a_loop
async def test_a_head_alone_goes_out_at_the_next_turn() -> None:
    transport, recorder = _joined()
    transport.write(HEAD)
    assert recorder.writes == []
    await asyncio.sleep(0)
    assert recorder.writes == [HEAD]
    transport.write(b"data: late\n\n")  # a slow stream's first frame, alone
    assert recorder.writes == [HEAD, b"data: late\n\n"]


@_in_a_loop
async def test_close_sends_a_held_head_first() -> None:
    transport, recorder = _joined()
    transport.write(HEAD)
    transport.close()
    await asyncio.sleep(0)
    assert recorder.writes == [HEAD] and recorder.closed


@_in_a_loop
async def test_writes_that_are_not_a_head_pass_straight_through() -> None:
    transport, recorder = _joined()
    for data in (b"HTTP/1.1 200 OK\r\n", b"hello\r\n\r\n", b"", HEAD[:-1]):
        transport.write(data)
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\n", b"hello\r\n\r\n", b"", HEAD[:-1]]


@_in_a_loop
async def test_a_head_is_not_written_once_the_connection_is_closing() -> None:
    transport, recorder = _joined()
    transport.write(HEAD)
    recorder.closed = True  # the peer went away before the next turn
    await asyncio.sleep(0)
    assert recorder.writes == []


@_in_a_loop
async def test_the_rest_of_the_transport_is_the_real_one() -> None:
    transport, recorder = _joined()
    transport.pause_reading()
    assert not recorder.reading
    transport.resume_reading()
    assert recorder.reading
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5)
    assert transport.get_write_buffer_size() == 7
    assert not transport.is_closing()
