"""providers/http1.py, the upstream HTTP/1.1 client, against raw loopback servers that
answer exactly what each case needs (framing, timing, closing), on uvloop as in `serve`."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import struct
import subprocess
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from polyrelay.providers.http1 import Http1Client, Http1Response, UpstreamClosedError
from polyrelay.providers.http1.coding import INFLATED_CAP
from polyrelay.providers.http1.response import BodyTooLargeError, UnreadableEncodingError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A loopback TCP server running `handler` per connection; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()

    async def __aenter__(self) -> Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()
                self.closed.set()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/x?a=1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def answer(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + b"".join(extra)
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def run(test: Callable[[Http1Client], Awaitable[None]]) -> None:
    async def main() -> None:
        client = Http1Client(keepalive_seconds=5)
        try:
            await asyncio.wait_for(test(client), 20)
        finally:
            await client.close()

    uvloop.run(main())


async def open_post(
    client: Http1Client,
    url: str,
    body: bytes = b"{}",
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> Http1Response:
    """A POST whose answer has arrived up to its head (the body is read by the test)."""
    return await client.request(
        "POST", url, headers or {}, body, connect_timeout=2, read_timeout=timeout
    )


async def post(client: Http1Client, url: str, body: bytes = b"{}", timeout: float = 5.0) -> bytes:
    headers = {"content-type": "application/json", "Authorization": "Bearer k"}
    response = await open_post(client, url, body, timeout, headers)
    assert response.status == 200
    return await response.read()


def ok_server() -> Server:
    """Answers every request of a kept-alive connection with `{"ok":true}`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(answer(b'{"ok":true}'))

    server = Server(handler)
    return server


def test_request_framing_and_keep_alive_reuse() -> None:
    server = ok_server()

    async def test(client: Http1Client) -> None:
        async with server:
            for _ in range(5):
                assert await post(client, server.url, b'{"n":1}') == b'{"ok":true}'
            assert server.connections == 1
            head, _, body = server.requests[0].partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /v1/x?a=1 HTTP/1.1"
            assert b"Host: " + server.url.split("/")[2].encode() in lines
            assert b"Authorization: Bearer k" in lines
            assert b"Content-Length: 7" in lines
            assert b"Accept-Encoding: identity" in lines
            assert body == b'{"n":1}'

    run(test)


def test_a_finished_response_is_freed_without_the_cyclic_collector() -> None:
    """The parser holds the response's bound methods: kept after the answer, that cycle
    left every upstream response (8 objects) to the collector."""
    import gc
    import weakref

    server = ok_server()

    async def test(client: Http1Client) -> None:
        async with server:
            gc.disable()
            try:
                response = await open_post(client, server.url)
                assert await response.read() == b'{"ok":true}'
                watched = weakref.ref(response)
                del response
                assert watched() is None
            finally:
                gc.enable()

    run(test)


def test_chunked_stream_arrives_piece_by_piece() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url)
            assert await response.next_chunk() == b"first"  # before the server went on
            assert not response.at_eof()
            release.set()
            assert await response.next_chunk() == b"second"
            assert await response.next_chunk() is None
            assert response.at_eof()

    run(test)


def test_body_until_close_and_gzip() -> None:
    plain = b'{"text":"' + b"a" * 5000 + b'"}'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/gzip" in request:
            writer.write(answer(gzip.compress(plain), b"content-encoding: gzip\r\n"))
            await writer.drain()
            await reader.read()
        else:  # HTTP/1.0 style: no length, the end of the connection ends the body
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + plain)

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            assert await post(client, server.url) == plain
            assert await post(client, server.url.replace("/v1/x", "/gzip")) == plain

    run(test)


def test_a_reused_connection_closed_by_the_server_is_sent_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Keep-alive promised, but the second request on a connection is never answered:
        # the server's idle close racing the client's reuse.
        await server.read_request(reader)
        writer.write(answer(b"one"))
        await writer.drain()
        await server.read_request(reader)

    server = Server(handler)

    async def test(client: Http1Client) -> None:
        async with server:
            assert await post(client, server.url) == b"one"
            assert await post(client, server.url) == b"one"
            assert server.connections == 2
            assert len(server.requests) == 3  # the lost one, then the retry

    run(test)


def test_a_fresh_connection_closed_without_an_answer_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            with pytest.raises(UpstreamClosedError):
                await post(client, server.url)
            assert server.connections == 1

    run(test)


def test_read_timeout_and_connect_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345")
        await reader.read()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url, b"", timeout=0.3)
            assert await response.next_chunk() == b"12345"
            with pytest.raises(TimeoutError):
                await response.next_chunk()
            await asyncio.wait_for(server.closed.wait(), 2)  # the connection was dropped
            url = server.url
        with pytest.raises(OSError):
            await post(client, url)

    run(test)


def test_closing_before_the_end_drops_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        assert await reader.read() == b""  # the client went away

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url)
            assert await response.next_chunk() == b"abc"
            response.close()
            await asyncio.wait_for(server.closed.wait(), 2)

    run(test)


def test_a_body_past_the_read_limit_drops_the_connection() -> None:
    size = 4 * 1024 * 1024

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        try:
            for _ in range(size // 65536):
                writer.write(b"x" * 65536)
                await writer.drain()
        except ConnectionError:
            return

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url, b"")
            with pytest.raises(BodyTooLargeError):
                await response.read(limit=1024 * 1024)
            await asyncio.wait_for(server.closed.wait(), 2)  # not kept for reuse

    run(test)


def test_a_slow_reader_pauses_the_socket() -> None:
    size = 16 * 1024 * 1024

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url, b"")
            await asyncio.sleep(0.5)
            held = len(b"".join(response._chunks))
            assert held < 1024 * 1024, held  # not the whole 16 MiB in memory
            assert len(await response.read()) == size

    run(test)


@pytest.mark.parametrize(
    "headers",
    [{"x-a": "ok\r\nx-injected: 1"}, {"x-a\r\nx-b": "v"}, {"x:y": "v"}],
)
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    async def test(client: Http1Client) -> None:
        with pytest.raises(ValueError, match="line break or a colon"):
            await client.request(
                "POST", "http://127.0.0.1:9/x", headers, b"", connect_timeout=1, read_timeout=1
            )

    run(test)


def test_garbage_and_trailing_bytes_are_errors_not_answers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/garbage" in request:
            writer.write(b"SMTP ready\r\n\r\n")
        else:  # an answer, then bytes nobody asked for: the connection must not be reused
            writer.write(answer(b"ok") + b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbad")
        await writer.drain()
        await reader.read()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            with pytest.raises(UpstreamClosedError, match="invalid HTTP"):
                await post(client, server.url.replace("/v1/x", "/garbage"))
            assert await post(client, server.url) == b"ok"
            assert await post(client, server.url) == b"ok"
            assert server.connections == 3

    run(test)


def test_repeated_headers_are_joined_and_interim_answers_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n")
        writer.write(answer(b"ok", b"Vary: a\r\nX-One: 1\r\nvary: b\r\n"))
        await writer.drain()
        await reader.read()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            response = await open_post(client, server.url)
            assert response.status == 200
            assert response.headers["vary"] == "a, b"
            assert response.headers["x-one"] == "1"
            assert "x-interim" not in response.headers
            assert await response.read() == b"ok"

    run(test)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made by the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    argv += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
    argv += ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(
        argv,
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(b"secret"))

    async def test(client: Http1Client) -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        try:
            url = f"https://localhost:{port}/v1/x"
            with pytest.raises(ssl.SSLCertVerificationError):  # not in the system's CAs
                await post(client, url)
            client._ssl = ssl.create_default_context(cafile=str(cert))
            assert await post(client, url) == b"secret"
            assert await post(client, url) == b"secret"
            assert (
                len(connections) == 1
            )  # kept alive for both (the refused handshake never got here)
        finally:
            server.close()

    run(test)


def test_a_reset_reused_connection_is_not_sent_again() -> None:
    """A reset (not a clean close) may come after the server started on the request, so
    a POST is not repeated."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(answer(b"one"))
        await writer.drain()
        await server.read_request(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST

    server = Server(handler)

    async def test(client: Http1Client) -> None:
        async with server:
            assert await post(client, server.url) == b"one"
            with pytest.raises(UpstreamClosedError):
                await post(client, server.url)
            assert len(server.requests) == 2

    run(test)


def _raw_deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


def test_deflate_is_read_zlib_wrapped_or_raw_in_any_pieces() -> None:
    """Raw deflate (no zlib header) is what many servers send as `deflate`; it is told
    from zlib data even when its first piece is a single byte."""
    plain = b'{"text":"' + b",".join(b"%d" % n for n in range(3000)) + b'"}'
    bodies = {b"/raw": _raw_deflate(plain), b"/zlib": zlib.compress(plain)}

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # kept alive: both requests come on one connection
            request = await server.read_request(reader)
            body = bodies[request.split(b" ")[1].split(b"?")[0]]
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\n")
            writer.write(b"transfer-encoding: chunked\r\n\r\n")
            for piece in (body[:1], body[1:2], body[2:50], body[50:]):  # none empty
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")

    server = Server(handler)

    async def test(client: Http1Client) -> None:
        async with server:
            for path in ("/raw", "/zlib"):
                assert await post(client, server.url.replace("/v1/x", path)) == plain

    run(test)


def test_an_unreadable_or_corrupt_coding_is_an_error_that_says_so() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/br" in request:
            writer.write(answer(b"\x1b\x03\x00\xf8", b"content-encoding: br\r\n"))
        else:
            writer.write(answer(b"\x1f\x8b not gzip at all", b"content-encoding: gzip\r\n"))
        await writer.drain()
        await reader.read()

    async def test(client: Http1Client) -> None:
        async with Server(handler) as server:
            with pytest.raises(UnreadableEncodingError, match="content-encoding br, which"):
                await post(client, server.url.replace("/v1/x", "/br"))
            with pytest.raises(UpstreamClosedError, match="compressed answer is corrupt"):
                await post(client, server.url.replace("/v1/x", "/gzip"))

    run(test)


def _coded(body: bytes, coding: str) -> Handler:
    """A server handler answering `body` with `content-encoding: <coding>`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer(body, b"content-encoding: %s\r\n" % coding.encode()))
        await writer.drain()
        await reader.read()

    return handler


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_the_read_limit_holds_for_the_inflated_size(coding: str) -> None:
    plain = b"x" * (8 * 1024 * 1024)
    body = gzip.compress(plain) if coding == "gzip" else _raw_deflate(plain)

    async def test(client: Http1Client) -> None:
        async with Server(_coded(body, coding)) as server:
            response = await open_post(client, server.url)
            assert len(body) < 1024 * 1024  # under the limit as sent, over it inflated
            with pytest.raises(BodyTooLargeError):
                await response.read(limit=1024 * 1024)

    run(test)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_inflated_cap_not_after_it_inflated(
    coding: str,
) -> None:
    """A few hundred KiB that inflate to 256 MiB: a streamed read (no read limit) fails
    once the unread inflated bytes pass the cap, and no chunk it got was larger."""
    plain = b"\0" * (256 * 1024 * 1024)
    body = gzip.compress(plain, 9) if coding == "gzip" else _raw_deflate(plain)
    del plain

    async def test(client: Http1Client) -> None:
        async with Server(_coded(body, coding)) as server:
            response = await open_post(client, server.url)
            largest = 0
            with pytest.raises(BodyTooLargeError):
                while (chunk := await response.next_chunk()) is not None:
                    largest = max(largest, len(chunk))
            assert largest <= INFLATED_CAP

    run(test)
