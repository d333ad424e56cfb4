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

The protocol also bounds a request's head (request line and headers), which uvicorn's
httptools path does not: it buffered a 200 MB header whole, re-copying it as it grew,
and waited for a head that never ended. A head past `max_head_bytes` or `max_headers`
gets `431 Request Header Fields Too Large`, and one not complete `head_timeout_seconds`
after it began (or after the connection opened) gets `408`; either way the connection
closes, and what the client still sends is read and dropped, never parsed.

A response that completes before its request's body was received in full (the app's 408
for a body that came too slowly, its 413 for one too large, a 401 that did not wait for
it) closes the connection the same way, as Go's server does: uvicorn would keep it open
and drop the rest of the body as it came, for as long as a client trickled it.

A connection lost before its request's response started cancels the request's task while
the app asks for it (`CANCEL_ON_DISCONNECT` in the scope: a model request run for its
client, Gateway._handle; never an async task's submission or another write). uvicorn only
marks the cycle disconnected, which nothing reads while the app waits on an upstream: the
call, or a web search loop of several, ran to its end, billed for an answer nobody reads
(twice for an SDK that timed out and retried). The app tells this cancellation from any
other (shutdown's) by `cancelled_for_disconnect`, and ends the request as a 499 (its usage
row, its log line) instead of letting uvicorn log the CancelledError as an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from polyrelay.codec import encode

__all__ = [
    "CANCEL_ON_DISCONNECT",
    "HeadJoiningProtocol",
    "HeadJoiningTransport",
    "cancelled_for_disconnect",
]

CANCEL_ON_DISCONNECT = "polyrelay.cancel_on_disconnect"
"""Scope key: the request's task while a connection lost before the response started
should cancel it, set by the app (None, or absent: nothing is cancelled)."""
_DISCONNECTED = "polyrelay.disconnected"
"""Scope key: True once the protocol cancelled that task for its lost connection."""


def cancelled_for_disconnect(scope: Mapping[str, Any]) -> bool:
    """Whether the CancelledError being handled is the protocol's, for a lost connection;
    if so the task is uncancelled, for the app to end the request as it sees fit (the
    cancellation has done its work: whatever the request awaited has stopped)."""
    task = asyncio.current_task()
    if task is None or not scope.get(_DISCONNECTED):
        return False
    task.uncancel()
    return True


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


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop the parser on a head past the limits."""


class HeadJoiningProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024
    """The request line and headers together (nginx allows 4 x 8 KiB, Node 16 KiB)."""
    max_headers = 100
    """Headers per request (Apache's LimitRequestFields)."""
    head_timeout_seconds = 30.0
    """From a head's first byte (or the connection's opening) to its end."""
    linger_seconds = 2.0
    """After a refusal: how long what the client still sends is read and dropped, so that
    closing with unread bytes (a TCP reset) does not destroy the answer before it is read."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_open = False  # between a request's first byte and its blank line
        self._heads_begun = 0
        self._head_bytes = 0  # bytes of the open head in reads after the one it began in
        self._read_bytes = 0  # the size of the read being parsed
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._running: RequestResponseCycle | None = None  # the cycle whose task runs
        joined = HeadJoiningTransport(transport, self.loop)
        super().connection_made(joined)  # type: ignore[arg-type]
        self._arm_head_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._linger_timer = None
        super().connection_lost(exc)
        self._cancel_unanswered()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # `self.cycle` is the latest request parsed, which may be a pipelined one still
        # waiting: the one whose task runs is this one.
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def _cancel_unanswered(self) -> None:
        """Cancel the running request's task if the app asked for it and its response has
        not started. A task cancelled already (shutdown's timeout) is left to that."""
        cycle = self._running
        if cycle is None or cycle.response_started:
            return
        scope: dict[str, Any] = cycle.scope  # type: ignore[assignment]
        task: asyncio.Task[None] | None = scope.get(CANCEL_ON_DISCONNECT)
        if task is None or task.done() or task.cancelling():
            return
        scope[_DISCONNECTED] = True
        task.cancel()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: read and dropped, never parsed
        begun, continuing = self._heads_begun, self._head_open
        self._read_bytes = len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head_too_large()
            else:
                self._invalid_request()
            return
        except httptools.HttpParserError:
            self._invalid_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not self._head_open:
            return  # the usual case: every head in this read is complete
        # A read that the same open head spans whole counts in full. The read it began in
        # is not counted (where in it the head began is unknown), so a head is refused
        # here at most one read (256 KiB) past the limit; a complete head is measured
        # exactly in on_headers_complete.
        if continuing and self._heads_begun == begun:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head_too_large()
        else:  # a head began in this read and goes on: only such heads are timed
            self._arm_head_timer()

    def on_response_complete(self) -> None:
        cycle: RequestResponseCycle | None = self.cycle
        unread = cycle is not None and cycle.more_body and not cycle.disconnected
        super().on_response_complete()
        if unread and not self._refused and not self.transport.is_closing():
            self._linger_and_close()

    def _invalid_request(self) -> None:
        # As uvicorn answers a request httptools cannot parse.
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._heads_begun += 1
        self._head_open = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_open = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        # A head within one small read cannot be past the limit: measured only otherwise.
        if self._head_bytes + self._read_bytes > self.max_head_bytes and self._head_size() > (
            self.max_head_bytes
        ):
            raise _HeadTooLarge
        if len(self.headers) > self.max_headers:
            raise _HeadTooLarge
        super().on_headers_complete()

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self._responding():
            # The head waits behind a pipelined request whose answer is under way.
            self._arm_head_timer()
        elif self._head_open:
            limit = self.head_timeout_seconds
            self._refuse(408, f"The request head did not arrive within {limit:g} seconds.")
        else:  # a connection that never began a request
            self.transport.close()

    def _refuse_head_too_large(self) -> None:
        kib = self.max_head_bytes // 1024
        self._refuse(
            431,
            f"The request head is too large: at most {kib} KiB of request line and headers"
            f" and at most {self.max_headers} headers are accepted.",
        )

    def _responding(self) -> bool:
        cycle: RequestResponseCycle | None = self.cycle  # None before the first request
        return cycle is not None and not cycle.response_complete

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close, reading and dropping what still comes meanwhile."""
        self._refused = True
        self._head_open = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._responding():  # no answer can go out in the middle of another one
            self.transport.close()
            return
        body = encode({"error": {"message": message, "type": "invalid_request_error"}})
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        self._linger_and_close()

    def _linger_and_close(self) -> None:
        """End the connection after the answer written: half-close, read and drop what
        the client still sends for `linger_seconds`, then close."""
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(self.linger_seconds, self.transport.close)
