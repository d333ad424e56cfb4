"""Reading a request body: capped in size, and bounded in time by the pace it arrives at.

Every endpoint that takes a body reads it here (the request path, stored responses,
batches, count_tokens), decoded from its Content-Encoding (body_coding.py).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import ClientDisconnect, Request

from polyrelay.errors import ClientClosedError, InvalidRequestError, RequestTooLargeError
from polyrelay.pipeline.body_coding import decoded_body

__all__ = ["BODY_GRACE_SECONDS", "BODY_MIN_BYTES_PER_SECOND", "read_body"]

BODY_GRACE_SECONDS = 30.0
"""How long a request body may take before any byte of it counts (as the head's timeout)."""
BODY_MIN_BYTES_PER_SECOND = 1024
"""Past the grace, the pace a body must keep on average: each byte received buys this
much more time. A fixed bound would cut a large body on a slow link, and a bound between
reads would never end a client sending one byte every few seconds (slow loris, with a valid
key: the connection and its buffers held without end). So the bound grows with the bytes
received, as Apache's mod_reqtimeout does (its MinRate is 500 bytes/s): a body of the
maximum size at 1 KiB/s or faster is never cut, a trickle is cut after the grace."""
INLINE_DECODED_BYTES = 1024 * 1024
"""The most a compressed body is decoded to on the event loop (about a millisecond per
coding); a larger one is decoded in a thread: 32 MiB took 30 to 150 ms (a bomb of a few
bytes as much), every other request on the loop waiting meanwhile."""
DECODE_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="body-decode")
"""The threads large bodies are decoded in (started on the first one): two, so a flood of
bombs holds at most two decodes' memory (up to twice the limit each) and never takes the
default executor's threads, which run the SQLite store's calls."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes `limit` bytes and with a
    408 when it arrives slower than the bound above (see BODY_MIN_BYTES_PER_SECOND). The
    connection closes after either answer: its body is not read to the end
    (http_protocol.HeadJoiningProtocol). A compressed body is decoded, and `limit` holds
    for its decoded size too."""
    declared, coding = _length_and_coding(request)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(_too_large(limit))
    try:
        if _arrived_whole(request):  # nothing to wait for: no deadline (its timer: ~8 µs)
            body = await request.body()
            if len(body) > limit:
                raise RequestTooLargeError(_too_large(limit))
        else:
            body = await _read_in_time(request, limit)
    except ClientDisconnect:
        raise ClientClosedError(
            "The client closed the connection before its body was read."
        ) from None
    if coding is None:
        return body
    return await _decoded(body, coding, limit)


async def _decoded(body: bytes, coding: str, limit: int) -> bytes:
    """The body decoded: on the loop when it is small once decoded (nearly all are), else
    again from the start in a thread (the first MiB decoded twice, ~3 % more work)."""
    try:
        return decoded_body(body, coding, min(limit, INLINE_DECODED_BYTES))
    except RequestTooLargeError:
        if limit <= INLINE_DECODED_BYTES:
            raise
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(DECODE_THREADS, decoded_body, body, coding, limit)


def _length_and_coding(request: Request) -> tuple[str | None, str | None]:
    """The Content-Length and Content-Encoding headers, found in one pass over the raw
    headers (two lookups in `request.headers` scan them twice, on every request)."""
    length = coding = None
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            length = value.decode("latin-1")
        elif name == b"content-encoding":  # several lines are one list (RFC 9110 §5.3)
            coding = (
                value.decode("latin-1")
                if coding is None
                else f"{coding}, {value.decode('latin-1')}"
            )
    return length, coding


def _arrived_whole(request: Request) -> bool:
    """Whether the server holds the whole body already, as it does for nearly every request
    (the body came in the read that brought the head): uvicorn's receive is its request
    cycle's, whose `more_body` turns false once the message is complete. Anything else
    (another server, a wrapped receive) is read under the deadline."""
    cycle = getattr(request.receive, "__self__", None)
    return getattr(cycle, "more_body", True) is False


async def _read_in_time(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout_at(started + BODY_GRACE_SECONDS) as deadline:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLargeError(_too_large(limit))
                chunks.append(chunk)
                deadline.reschedule(started + _body_seconds(size))
    except TimeoutError:
        raise InvalidRequestError(_too_slow(size), status=408, code="request_timeout") from None
    return b"".join(chunks)


def _body_seconds(size: int) -> float:
    return BODY_GRACE_SECONDS + size / BODY_MIN_BYTES_PER_SECOND


def _too_large(limit: int) -> str:
    return f"Request body is larger than the limit of {limit} bytes."


def _too_slow(size: int) -> str:
    return (
        f"The request body did not arrive in time: {size} bytes in {_body_seconds(size):g}"
        f" seconds; a body may take {BODY_GRACE_SECONDS:g} seconds plus one second per"
        f" {BODY_MIN_BYTES_PER_SECOND} bytes."
    )
