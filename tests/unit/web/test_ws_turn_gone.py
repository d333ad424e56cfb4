"""A Responses WebSocket turn whose socket closes under a send: the client left before the
end, so the stream's meter is told (499), whichever notices first, the receive loop (it
cancels the turn) or the send. The send noticing first settled the row as 200, which a
full run met under load (test_usage_cancelled's WebSocket case)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from polyrelay.context import RequestContext
from polyrelay.web import responses_ws


class _Reply:
    def __init__(self) -> None:
        self.gone = 0
        self.closed = False

        async def frames() -> AsyncIterator[bytes]:
            yield b'event: response.created\ndata: {"type":"response.created"}\n\n'
            yield b'event: response.output_text.delta\ndata: {"type":"x"}\n\n'

        self.frames = _Closing(frames(), self)

    def client_gone(self) -> None:
        self.gone += 1


class _Closing:
    def __init__(self, source: AsyncIterator[bytes], reply: _Reply) -> None:
        self._source = source
        self._reply = reply

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._source

    async def aclose(self) -> None:
        self._reply.closed = True


class _ClosedSocket:
    async def send_text(self, text: str) -> None:
        raise OSError("client disconnected")


class _Gateway:
    def __init__(self, reply: _Reply) -> None:
        self.reply = reply

    async def dispatch(self, *args: Any) -> _Reply:
        return self.reply


def test_a_send_into_a_closed_socket_tells_the_meter_the_client_left() -> None:
    reply = _Reply()
    connection: Any = object.__new__(responses_ws._Connection)
    connection.gateway = _Gateway(reply)
    connection.frontend = connection.key = None
    connection.headers = {}
    connection.websocket = _ClosedSocket()
    job = responses_ws._Job(b"{}", None, True)

    async def run() -> None:
        connection.sending = asyncio.Lock()
        await connection.stream(job, RequestContext())

    with pytest.raises(responses_ws._Gone):
        asyncio.run(run())
    assert (reply.gone, reply.closed) == (1, True)
