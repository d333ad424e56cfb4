"""The connections: a keep-alive pool per (scheme, host, port), request framing."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from functools import lru_cache
from typing import cast
from urllib.parse import unquote, urlsplit

from polyrelay.providers.http1.response import Http1Response, StaleConnectionError

__all__ = ["Connection", "Http1Client"]

_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


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
    if "accept-encoding" not in given:
        # Without the header any coding is acceptable (RFC 9110 §12.5.3), br and zstd too,
        # which we cannot read; naming identity keeps answers uncompressed, as we want.
        lines.append("Accept-Encoding: identity\r\n")
    if length or method not in ("GET", "DELETE"):
        lines.append(f"Content-Length: {length}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


class Connection(asyncio.Protocol):
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
        self._idle: dict[tuple[bool, str, int], list[Connection]] = {}
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
            except StaleConnectionError:
                if not reused:
                    raise
                connection = None  # the server's idle close raced our reuse: send again
                continue
            except BaseException:
                response.close()
                raise
            return response

    async def _connect(self, target: _Target, timeout: float) -> Connection:
        ssl_context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ssl_context = self._ssl
        connect = self.loop.create_connection(
            lambda: Connection(self, target.key),
            target.host,
            target.port,
            ssl=ssl_context,
            server_hostname=target.host if target.tls else None,
        )
        _, connection = await asyncio.wait_for(connect, timeout)
        return connection

    def _take_idle(self, key: tuple[bool, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def release(self, connection: Connection) -> None:
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self._max_idle:
            connection.abort()
            return
        connection.idle_since = self.loop.time()
        idle.append(connection)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._keepalive, self._sweep)

    def forget(self, connection: Connection) -> None:
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
