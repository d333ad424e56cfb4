"""OpenAI error bodies → UpstreamError, for both OpenAI upstream types (Chat Completions
and Responses answer errors with the same `{"error": {message, type, param, code}}`
body), and for OpenAI-compatible servers' variants of it. A body in neither shape is
error_body.py's: JSON text is kept, anything else (a proxy's HTML page) only logged.

A 401/403 means the upstream rejected the gateway's own credential: that is the
gateway's fault, so the client gets a 500 rather than a hint to fix its key.
"""

from __future__ import annotations

import msgspec

from polyrelay import codec
from polyrelay.errors import UpstreamError, kind_for_status, upstream_credential_error
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.error_body import foreign_error_message, rate_limit_headers
from polyrelay.schemas.openai_chat import ErrorResponse

__all__ = ["parse_error"]


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, param) from an OpenAI error body; Nones if it is not one."""
    try:
        err = codec.decode_as(body, ErrorResponse).error
    except msgspec.DecodeError:
        return None, None, None
    code = str(err.code) if err.code is not None else None
    return err.message or None, code, err.param


def parse_error(response: UpstreamResponse) -> UpstreamError:
    status = response.status
    message, code, param = _error_fields(response.body)
    if message is None:
        message = foreign_error_message(response, "OpenAI")
    if status in (401, 403):
        return upstream_credential_error(status)
    return UpstreamError(
        message,
        status=status,
        kind=kind_for_status(status),
        code=code,
        param=param,
        retry_after=response.headers.get("retry-after"),
        rate_limit_headers=rate_limit_headers(response.headers),
    )
