"""Error responses exactly as each provider sends them."""

from __future__ import annotations

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.wire import new_id

__all__ = ["anthropic_error", "gemini_error", "json_response", "openai_error"]

_REASON = {
    400: "Bad request",
    401: "Invalid API key",
    403: "Permission denied",
    404: "Not found",
    408: "Request timeout",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Deadline exceeded",
    529: "Overloaded",
}

_OPENAI_TYPE_CODE = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    503: ("server_error", "overloaded"),
    529: ("server_error", "overloaded"),
}

_ANTHROPIC_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def json_response(
    body: JSONObject, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(encode(body), status, headers, media_type="application/json")


def _headers(status: int, request_id_header: str) -> dict[str, str]:
    headers = {request_id_header: new_id("req_")}
    if status == 429:
        headers["retry-after"] = "1"
    return headers


def _message(status: int, message: str | None) -> str:
    return message or f"{_REASON.get(status, 'Error')} (emulated {status})"


def openai_error(
    status: int, message: str | None = None, param: str | None = None, code: str | None = None
) -> Response:
    default = ("invalid_request_error", None) if status < 500 else ("server_error", None)
    error_type, default_code = _OPENAI_TYPE_CODE.get(status, default)
    code = code or default_code
    body = {
        "error": {
            "message": _message(status, message),
            "type": error_type,
            "param": param,
            "code": code,
        }
    }
    return json_response(body, status, _headers(status, "x-request-id"))


def anthropic_error(status: int, message: str | None = None, param: str | None = None) -> Response:
    del param  # Anthropic errors name the field inside the message instead.
    default = "invalid_request_error" if status < 500 else "api_error"
    headers = _headers(status, "request-id")
    body = {
        "type": "error",
        "error": {
            "type": _ANTHROPIC_TYPE.get(status, default),
            "message": _message(status, message),
        },
        "request_id": headers["request-id"],
    }
    return json_response(body, status, headers)


def gemini_error(status: int, message: str | None = None, param: str | None = None) -> Response:
    del param
    default = "INVALID_ARGUMENT" if status < 500 else "INTERNAL"
    body = {
        "error": {
            "code": status,
            "message": _message(status, message),
            "status": _GEMINI_STATUS.get(status, default),
        }
    }
    return json_response(body, status, _headers(status, "x-request-id"))
