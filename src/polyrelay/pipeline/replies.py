"""What every response of the request path shares: its headers, the streamed response, and
a cached protocol check for the per-request capability tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.pipeline.sse_response import SSEResponse, StreamMeter

__all__ = ["SSE_HEADERS", "conforms", "header_safe", "response_headers", "sse_response"]

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

_conforms: dict[tuple[type, type], bool] = {}


def conforms(obj: object, protocol: type) -> bool:
    """`isinstance(obj, protocol)` for a runtime-checkable Protocol, cached by type: the
    uncached check walks the protocol's members on every call (a few % of a request)."""
    key = (type(obj), protocol)
    found = _conforms.get(key)
    if found is None:
        found = _conforms[key] = isinstance(obj, protocol)
    return found


def response_headers(ctx: RequestContext) -> dict[str, str]:
    # `request-id` is what the Anthropic SDKs read; `x-request-id` what OpenAI's read.
    headers = {"x-request-id": ctx.request_id, "request-id": ctx.request_id}
    if ctx.warnings:
        headers["polyrelay-warnings"] = header_safe("; ".join(ctx.warnings))
    return headers


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_safe(text: str) -> str:
    """`text` as one line of printable ASCII. Warnings can quote what the client sent (an
    unknown field's name), and a CR, LF or other control character in a header value makes
    the server drop the response."""
    if text.isascii() and text.isprintable():
        return text
    return _CONTROL.sub(" ", text.encode("ascii", "backslashreplace").decode("ascii"))


def sse_response(
    frames: AsyncIterator[bytes],
    beat: Callable[[], list[bytes]],
    ctx: RequestContext,
    keepalive: float,
    meter: StreamMeter | None = None,
    refuse: Callable[[GatewayError], Response] | None = None,
) -> SSEResponse:
    """The streamed answer: frames as they come, and during silence `beat()`, a renderer's
    `heartbeat`; `meter` (that of the upstream call the frames come from) hears when the
    client leaves before the end and tells the status the stream ended with;
    `refuse(error)`, the HTTP error answering a stream that failed before its first
    frames."""

    def heartbeat() -> bytes:
        return b"".join(beat())

    warned = len(ctx.warnings)

    def late_headers() -> dict[str, str] | None:
        # A stream parser's warning (a part it dropped) given before the first frames still
        # makes the head, which goes out with them.
        return None if len(ctx.warnings) == warned else {**SSE_HEADERS, **response_headers(ctx)}

    headers = {**SSE_HEADERS, **response_headers(ctx)}
    return SSEResponse(
        frames,
        headers,
        heartbeat=heartbeat,
        keepalive=keepalive,
        meter=meter,
        refuse=refuse,
        late_headers=late_headers,
    )
