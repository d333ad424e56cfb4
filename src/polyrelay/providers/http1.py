"""A lean HTTP/1.1 client for provider calls: a keep-alive pool over asyncio transports,
with httptools (llhttp, the parser uvicorn and Node use) reading the responses.

Why not aiohttp here: a proxied request's own cost is the target, and aiohttp's client
alone took 186 µs of CPU per pooled request against nginx (bench/choices.py), more than
everything else polyrelay does on a JSON request. httpx (626 µs), aiosonic (285),
pyreqwest (158) and rnet (280) were no better; this client takes ≈ 65. aiohttp stays for
the URL fetcher and the search backends, which need its redirects, resolver hooks and
cookies; providers need none of those.

What it does: `Host`/`Content-Length` framing, Content-Length, chunked and close-delimited
bodies, gzip/deflate bodies (it never asks for them), TLS by the default context, a
connect timeout and a read timeout (the longest wait for the next bytes), reading paused
while a slow consumer leaves 256 KiB untaken, and one retry on a fresh connection when a
reused one turns out to have been closed before any byte of the answer arrived (the
server's idle timeout racing the reuse). Closing a response before its end drops the
connection, which is how an upstream generation is cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools

__all__ = ["Http1Client", "Http1Response", "UpstreamClosedError"]

_HIGH_WATER = 256 * 1024
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class UpstreamClosedError(ConnectionError):
    """The upstream closed the connection or sent something that is not HTTP/1.1."""


class _StaleConnectionError(UpstreamClosedError):
    """A reused connection closed before any byte of the answer: safe to send again."""


class _Target:
    __slots__ = ("auth", "host", "host_header", "key", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key = (self.tls, self.host, self.port)
        self.host_header = parts.netloc.rpartition("@")[2]
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.auth = ""
        if parts.username is not None:
            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.auth = "Basic " + base64.b64encode(user.encode()).decode()


@lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    return _Target(url)


def _head(method: str, target: _Target, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    given = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _OWN_HEADERS:
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r} holds a line break or a colon")
        given.add(lower)
        lines.append(f"{name}: {value}\r\n")
    if target.auth and "authorization" not in given:
        lines.append(f"Authorization: {target.auth}\r\n")
    if length or method not in ("GET", "DELETE"):
        lines.append(f"Content-Length: {length}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


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

    def __init__(self, connection: _Connection, read_timeout: float) -> None:
        self._connection = connection
        self._read_timeout = read_timeout
        self._loop = connection.loop
        self.parser = httptools.HttpResponseParser(self)
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
        self._decoder: zlib._Decompress | None = None
        self.received = False

    # --- parser callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))  # decoded all at once, at the end of the head

    def on_headers_complete(self) -> None:
        if self._done:  # bytes after the end of the answer: the connection is unusable
            self._connection.abort()
            return
        self.status = self.parser.get_status_code()
        raw, self._raw_headers = self._raw_headers, []
        if 100 <= self.status < 200:  # an interim answer: the real one follows
            return
        self.headers = headers = _header_dict(raw)
        self._until_close = "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", ""
        )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(47 if encoding != "deflate" else 15)
        elif encoding != "identity":
            self._fail(UpstreamClosedError(f"unsupported content-encoding {encoding!r}"))
            return
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._done:
            return
        if self._decoder is not None:
            body = self._decoder.decompress(body)
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            self._connection.pause()
        self._wake()

    def on_message_complete(self) -> None:
        if self._done or 100 <= self.status < 200:
            return
        if self._decoder is not None:
            self._chunks.append(self._decoder.flush())
        self._done = True
        self._connection.finished(self, self.parser.should_keep_alive())
        self._wake()

    # --- connection events ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosedError(f"invalid HTTP from the upstream: {exc}"))

    def lost(self, exc: BaseException | None) -> None:
        if self._done or self._error is not None:
            return
        if self._head_done and self._until_close and exc is None:
            self._done = True  # a body delimited by the end of the connection
        elif not self.received:
            self._error = _StaleConnectionError("the upstream closed the connection")
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

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        """Before the end, drop the connection (the upstream sees the client leave)."""
        if not self._done:
            self._connection.abort()
            if self._error is None:
                self._error = UpstreamClosedError("the response was closed")


class _Connection(asyncio.Protocol):
    def __init__(self, client: Http1Client, key: tuple[bool, str, int]) -> None:
        self.client = client
        self.key = key
        self.loop = client.loop
        self.transport: asyncio.Transport | None = None
        self.response: Http1Response | None = None
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self.response.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None:
            self.response.lost(exc)
        self.client.forget(self)

    def send(self, response: Http1Response, data: bytes) -> None:
        assert self.transport is not None
        self.response = response
        self.transport.write(data)

    def finished(self, response: Http1Response, keep_alive: bool) -> None:
        transport = self.transport
        if response is not self.response or transport is None:
            return
        self.response = None
        if keep_alive and not self.closed and transport.get_write_buffer_size() == 0:
            transport.resume_reading()
            self.client.release(self)
        else:
            self.abort()

    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Client:
    """A pool of kept-alive connections per (scheme, host, port), most recent first."""

    def __init__(self, *, keepalive_seconds: float = 60.0, max_idle_per_host: int = 512) -> None:
        self.loop = asyncio.get_running_loop()
        self._keepalive = keepalive_seconds
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> Http1Response:
        """Send the request; return once the status and headers have arrived."""
        target = _target(url)
        data = _head(method, target, headers, len(body)) + body
        connection = self._take_idle(target.key)
        while True:
            reused = connection is not None
            if connection is None:
                connection = await self._connect(target, connect_timeout)
            response = Http1Response(connection, read_timeout)
            connection.send(response, data)
            try:
                await response.wait_head()
            except _StaleConnectionError:
                if not reused:
                    raise
                connection = None  # the server's idle close raced our reuse: send again
                continue
            except BaseException:
                response.close()
                raise
            return response

    async def _connect(self, target: _Target, timeout: float) -> _Connection:
        ssl_context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ssl_context = self._ssl
        connect = self.loop.create_connection(
            lambda: _Connection(self, target.key),
            target.host,
            target.port,
            ssl=ssl_context,
            server_hostname=target.host if target.tls else None,
        )
        _, connection = await asyncio.wait_for(connect, timeout)
        return connection

    def _take_idle(self, key: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def release(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self._max_idle:
            connection.abort()
            return
        connection.idle_since = self.loop.time()
        idle.append(connection)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._keepalive, self._sweep)

    def forget(self, connection: _Connection) -> None:
        """A closed connection leaves the pool at once, not at its next turn."""
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    def _sweep(self) -> None:
        self._sweeper = None
        deadline = self.loop.time() - self._keepalive
        for idle in self._idle.values():
            for connection in [c for c in idle if c.idle_since <= deadline]:
                idle.remove(connection)
                connection.abort()
        if any(self._idle.values()):
            self._sweeper = self.loop.call_later(self._keepalive, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
