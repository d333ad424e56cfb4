"""uvicorn's httptools protocol, with each response's head sent together with its body.

uvicorn writes a response's status line and headers the moment the app sends
`http.response.start`, and the body with the first `http.response.body`: two writes, two
system calls and two TCP segments for a response whose body follows at once, which is
every response here (a JSON answer, or a stream whose first frames are ready when its
head is). The client then reads twice too. Holding the head for the rest of the event
loop's current turn joins it to the first body write when that comes in the same turn;
otherwise the head goes out alone at the next turn, so a slow stream's head is never
held back. Against the same gateway without it, in interleaved runs, CPU per request was
1-8 % lower at 16 connections in four cells, and at one connection 14-21 % lower in three
cells and 8 % higher in one (bench/README.md: the host is noisy).

Bytes and their order are unchanged whatever is written: a held write is always the
first bytes of the next write or goes out by itself, before anything else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeadJoiningProtocol", "HeadJoiningTransport"]


class HeadJoiningTransport:
    """A transport that holds a response head (a write that begins with a status line
    and ends with the blank line) until the next write or the loop's next turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        # The rest (abort, set_protocol, buffer sizes ...) as the real transport has them.
        return getattr(self._transport, name)


class HeadJoiningProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        joined = HeadJoiningTransport(transport, self.loop)
        super().connection_made(joined)  # type: ignore[arg-type]
