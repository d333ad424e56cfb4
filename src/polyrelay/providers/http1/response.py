"""One HTTP/1.1 exchange as the consumer sees it, and as httptools' callbacks fill it."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httptools

from polyrelay.providers.http1.coding import (
    DISCARDED,
    INFLATED_CAP,
    Decoder,
    UnreadableEncodingError,
    decoder_for,
)

if TYPE_CHECKING:
    from polyrelay.providers.http1.pool import Connection

__all__ = [
    "BodyTooLargeError",
    "Http1Response",
    "StaleConnectionError",
    "UnreadableEncodingError",
    "UpstreamClosedError",
]

_HIGH_WATER = 256 * 1024
"""Body bytes the consumer has not taken above which the socket stops being read."""


class UpstreamClosedError(ConnectionError):
    """The upstream closed the connection or sent something that is not HTTP/1.1."""


class BodyTooLargeError(Exception):
    """The body passed the limit `Http1Response.read` was given; the connection is dropped."""


class StaleConnectionError(UpstreamClosedError):
    """A reused connection closed before any byte of the answer: safe to send again."""


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined with commas, as HTTP allows."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers
    joined: dict[str, list[str]] = {}
    for name, value in raw:
        joined.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return {name: ", ".join(values) for name, values in joined.items()}


class Http1Response:
    """One exchange: status and headers once `open` returns, then the body as it comes.
    It is also the parser's callback object, so each response gets a fresh parser."""

    def __init__(self, connection: Connection, read_timeout: float) -> None:
        self._connection = connection
        self._read_timeout = read_timeout
        self._loop = connection.loop
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        """Dropped once the answer is complete or closed: it holds this object's bound
        methods, a reference cycle that would leave every response to the collector."""
        self.status = 0
        self.headers: dict[str, str] = {}
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._head_done = False
        self._done = False
        self._until_close = False
        self._paused = False
        self._error: BaseException | None = None
        self._decoder: Decoder | None = None
        self.received = False

    # --- parser callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))  # decoded all at once, at the end of the head

    def on_headers_complete(self) -> None:
        if self._done:  # bytes after the end of the answer: the connection is unusable
            self._connection.abort()
            return
        assert self.parser is not None  # a callback of it
        self.status = self.parser.get_status_code()
        raw, self._raw_headers = self._raw_headers, []
        if 100 <= self.status < 200:  # an interim answer: the real one follows
            return
        self.headers = headers = _header_dict(raw)
        self._until_close = "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", ""
        )
        if "content-encoding" in headers:
            try:
                self._decoder = decoder_for(headers["content-encoding"].strip().lower())
            except UnreadableEncodingError as exc:
                if self.status < 400:
                    self._fail(exc)
                    return
                self._decoder = DISCARDED
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._done:
            return
        if self._decoder is not None:
            if self._error is not None:  # it did not inflate: the rest is not read
                return
            room = max(INFLATED_CAP - self._buffered, 0)
            try:
                body = self._decoder.decompress(body, room + 1)
            except zlib.error as exc:
                self._fail(
                    UpstreamClosedError(f"the upstream's compressed answer is corrupt: {exc}")
                )
                return
            if len(body) > room:  # a bomb, or more unread than any answer may hold
                self._fail(BodyTooLargeError(self._buffered + len(body)))
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            self._connection.pause()
        self._wake()

    def on_message_complete(self) -> None:
        if self._done or 100 <= self.status < 200:
            return
        if self._decoder is not None and self._error is None:
            try:
                self._chunks.append(self._decoder.flush())
            except zlib.error as exc:
                self._fail(
                    UpstreamClosedError(f"the upstream's compressed answer is corrupt: {exc}")
                )
        self._done = True
        assert self.parser is not None  # a callback of it
        keep_alive = self.parser.should_keep_alive()
        self.parser = None
        self._connection.finished(self, keep_alive)
        self._wake()

    # --- connection events ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.received = True
        if self.parser is None:  # bytes after the end of the answer: the connection is unusable
            self._connection.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosedError(f"invalid HTTP from the upstream: {exc}"))

    def lost(self, exc: BaseException | None) -> None:
        if self._done or self._error is not None:
            return
        if self._head_done and self._until_close and exc is None:
            self._done = True  # a body delimited by the end of the connection
        elif not self.received and exc is None:
            # A clean close before any byte: on a reused connection, the server's idle
            # close (Go's net/http retries this case too, POSTs included). A reset is
            # not: the server may have started on the request.
            self._error = StaleConnectionError("the upstream closed the connection")
        else:
            reason = f": {exc}" if exc else ""
            self._error = UpstreamClosedError(f"the upstream closed the connection{reason}")
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._done:
            self._error = error
        self._connection.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _time_out(self) -> None:
        self._fail(TimeoutError(f"no bytes from the upstream for {self._read_timeout} s"))

    async def _wait(self) -> None:
        self._waiter = waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, self._time_out)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # --- the consumer's side ------------------------------------------------------------

    async def wait_head(self) -> None:
        while not self._head_done:
            if self._error is not None:
                raise self._error
            if self._done:
                raise UpstreamClosedError("the upstream ended the answer before its headers")
            await self._wait()

    async def next_chunk(self) -> bytes | None:
        """The body bytes that arrived since the last call, None at the end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return None
            await self._wait()
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._connection.resume()
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.next_chunk()) is not None:
            if chunk:
                yield chunk

    def at_eof(self) -> bool:
        return self._done and not self._chunks

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; BodyTooLargeError once it passes `limit` bytes."""
        pieces: list[bytes] = []
        size = 0
        while (chunk := await self.next_chunk()) is not None:
            size += len(chunk)
            if limit is not None and size > limit:
                self.close()
                raise BodyTooLargeError(size)
            pieces.append(chunk)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        """Before the end, drop the connection (the upstream sees the client leave)."""
        self.parser = None
        if not self._done:
            self._connection.abort()
            if self._error is None:
                self._error = UpstreamClosedError("the response was closed")
