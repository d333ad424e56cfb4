"""The client's message for an upstream error body that is not in the provider's own
error shape; shared by every provider's `parse_error`.

A JSON body (a vLLM or FastAPI server's `{"detail": ...}`, a proxy's `{"error": "..."}`)
is an API speaking to its caller, often naming the field it refused: its text is kept.
Anything else (a load balancer's HTML page, a proxy's "upstream connect error" line) comes
from the infrastructure between the gateway and the provider and may name internal hosts,
addresses and software versions. Clients never see it: they are told what came, and the
body goes to the gateway's log, as the transport-error path does with host names.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.providers import UpstreamResponse, surrogates
from polyrelay.providers.http1.coding import nameable, readable

__all__ = [
    "LOGGED_BYTES",
    "QUOTED_JSON_BYTES",
    "error_object",
    "foreign_error_message",
    "rate_limit_headers",
    "text",
]

log = logging.getLogger("polyrelay.upstream")

QUOTED_JSON_BYTES = 500
"""How much of a JSON error body without a message field the client gets."""

LOGGED_BYTES = 2048
"""How much of a non-JSON error body the log gets: enough to recognise the page."""

_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_REQUEST_ID_HEADERS = ("request-id", "x-request-id", "cf-ray")
_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def rate_limit_headers(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The upstream's rate-limit headers among `headers` (lower-case names), which its
    error carries to the client (errors.UpstreamError.rate_limit_headers)."""
    return tuple(
        (name, value)
        for name, value in headers.items()
        if name.startswith(_RATE_LIMIT_PREFIXES) or name == "retry-after-ms"
    )


def error_object(body: bytes | str) -> codec.JSONObject | None:
    """The `error` object of a JSON body `{"error": {...}}` (or of the first of a list of
    those, as older Gemini servers answer), whatever the types of its members; None for
    any other body."""
    raw: Any = _decoded(body)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    error = raw.get("error") if isinstance(raw, dict) else None
    return error if isinstance(error, dict) else None


def _decoded(body: bytes | str) -> object | None:
    """`body` as plain values, or None if it is not JSON. A message holding a lone UTF-16
    surrogate escape (half an emoji), which strict decoding refuses, is read with the
    half as U+FFFD (surrogates.loads_whole), as a successful answer's is."""
    try:
        value: object = codec.decode(body)
    except msgspec.DecodeError:
        return surrogates.loads_whole(body)
    return value


def text(value: object) -> str | None:
    """A member of an error object as text: a string as it is, a number as its digits (an
    integral float as the int it is: 429.0 is "429"); None for null, a boolean, an array
    or an object."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def foreign_error_message(response: UpstreamResponse, provider: str) -> str:
    """The message for `response`, an error whose body is not `provider`'s error shape
    (`provider` as the client reads it: "OpenAI", "Anthropic", "Gemini")."""
    body, status = response.body, response.status
    raw: Any = _decoded(body)
    if isinstance(raw, dict):
        # vLLM: {"object": "error", "message": ...}; FastAPI: {"detail": ...}; some
        # proxies: {"error": "..."}.
        for key in ("message", "error", "detail"):
            value = raw.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(raw, (dict, list)):
        return body[:QUOTED_JSON_BYTES].decode("utf-8", errors="replace").strip()
    if not body.strip():
        coding = response.headers.get("content-encoding", "").strip().lower()
        if coding and not readable(coding):
            return (
                f"the upstream answered HTTP {status} with a body in content-encoding"
                f" {nameable(coding)}, which the gateway did not ask for and cannot read"
            )
        return f"the upstream answered HTTP {status} with an empty body"
    media_type = _media_type(response.headers.get("content-type"))
    request_id = next(
        (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None
    )
    # %r: the body on one log line, its line breaks and control characters escaped, so an
    # upstream cannot forge log lines.
    log.warning(
        "upstream answered HTTP %d with a body that is not an error of the %s API"
        " (%s, %d bytes%s): %r",
        status,
        provider,
        media_type,
        len(body),
        f", upstream request id {request_id!r}" if request_id else "",
        body[:LOGGED_BYTES].decode("utf-8", errors="replace"),
    )
    return (
        f"the upstream answered HTTP {status} with a body that is not an error of the"
        f" {provider} API ({media_type}, {len(body)} bytes); see the gateway's log"
    )


def _media_type(content_type: str | None) -> str:
    """The header's media type when it looks like one; the header is the upstream's text
    too, so anything else is not repeated to the client."""
    if not content_type:
        return "no content-type"
    media_type = content_type.split(";", 1)[0].strip().lower()
    if len(media_type) <= 100 and _MEDIA_TYPE.fullmatch(media_type):
        return media_type
    return "unrecognised content-type"
