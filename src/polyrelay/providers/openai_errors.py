"""OpenAI error bodies → UpstreamError, for both OpenAI upstream types (Chat Completions
and Responses answer errors with the same `{"error": {message, type, param, code}}`
body), and for OpenAI-compatible servers' variants of it, whatever the types of its
members (error_body.error_object). A body in neither shape is
error_body.py's: JSON text is kept, anything else (a proxy's HTML page) only logged.

A 401/403 means the upstream rejected the gateway's own credential: that is the
gateway's fault, so the client gets a 500 rather than a hint to fix its key.
"""

from __future__ import annotations

from polyrelay.errors import UpstreamError, kind_for_status, upstream_credential_error
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.error_body import (
    error_object,
    foreign_error_message,
    rate_limit_headers,
    text,
)
from polyrelay.schemas.openai_chat import ErrorObject

__all__ = ["lenient_error", "parse_error"]


def lenient_error(body: bytes) -> ErrorObject | None:
    """The error object of an OpenAI error body or in-band stream event, each member read
    whatever its type (error_body.text: a `code` of 429.0 is 429, a `param` of 7 is "7",
    a `type` that is an object is None); None if it is not one."""
    err = error_object(body)
    if err is None:
        return None
    code = err.get("code")
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    return ErrorObject(
        message=text(err.get("message")) or "",
        type=text(err.get("type")),
        param=text(err.get("param")),
        code=code if type(code) is int else text(code),
    )


def parse_error(response: UpstreamResponse) -> UpstreamError:
    status = response.status
    err = lenient_error(response.body) or ErrorObject()
    message = err.message or foreign_error_message(response, "OpenAI")
    if status in (401, 403):
        return upstream_credential_error(status)
    return UpstreamError(
        message,
        status=status,
        kind=kind_for_status(status),
        code=str(err.code) if err.code is not None else None,
        param=err.param,
        retry_after=response.headers.get("retry-after"),
        rate_limit_headers=rate_limit_headers(response.headers),
    )
