"""Gateway errors in OpenAI's error shape, shared by Chat Completions and Responses so that
one failure gets the same status, type and code on both endpoints.

Mapping: protocols/translation.md §11 and openai-chat-completions.md §6. The type follows
the status class (a relayed 4xx is never a `server_error`); Anthropic's 529 becomes 503,
the status OpenAI clients know (and their SDKs retry) for overload.
"""

from __future__ import annotations

from polyrelay import codec
from polyrelay.errors import GatewayError
from polyrelay.schemas.openai_chat import ErrorObject, ErrorResponse

__all__ = ["encode_openai_error", "openai_error"]

# kind → (OpenAI error type, default code). The router sets `model_not_found` itself, so
# a 404 for a stored response or task is not mislabelled as a missing model.
_SHAPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "permission_error": ("invalid_request_error", "permission_denied"),
    "not_found_error": ("invalid_request_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("server_error", "timeout"),
    "api_error": ("server_error", None),
}


def openai_error(error: GatewayError) -> tuple[int, ErrorObject]:
    """The HTTP status and the `error` object for a gateway error."""
    type_, code = _SHAPES.get(error.kind, ("server_error", None))
    status = 503 if error.status == 529 else error.status
    if status < 500 and type_ == "server_error":
        type_, code = "invalid_request_error", None
    body = ErrorObject(
        message=error.message, type=type_, param=error.param, code=error.code or code
    )
    return status, body


def encode_openai_error(error: GatewayError) -> tuple[int, bytes]:
    status, body = openai_error(error)
    return status, codec.encode(ErrorResponse(error=body))
