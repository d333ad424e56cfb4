"""The gateway's error tree. Frontends render each error in their own protocol's shape.

`kind` is protocol-neutral; each frontend maps it to its `type`/`code` (see
protocols/translation.md §11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyrelay.ir import Usage

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "GatewayError",
    "InvalidRequestError",
    "NotFoundError",
    "NotStoredYetError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "UnsupportedError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnreachableError",
    "error_headers",
    "first_line",
    "internal_error",
    "kind_for_status",
    "upstream_credential_error",
]


class GatewayError(Exception):
    """Base class. `status` is the HTTP status the client gets."""

    status: int = 500
    kind: str = "api_error"
    usage: Usage | None = None
    """The tokens the upstream reported for the answer that this error stands for (a 200
    that failed all the same), and those of the request's earlier upstream calls that
    succeeded (a tool loop's rounds, the other choices): the usage row records them."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after
        if status is not None:
            self.status = status

    def add_usage(self, earlier: Usage) -> None:
        """Count `earlier` (the request's upstream calls before this failure) in `usage`."""
        self.usage = earlier if self.usage is None else earlier + self.usage


class InvalidRequestError(GatewayError):
    status = 400
    kind = "invalid_request_error"


class NotStoredYetError(InvalidRequestError):
    """A stored object the request refers to is not in the database; it may only not be
    committed yet, by another worker process whose writer commits in batches. The
    pipeline looks once more after a commit period before answering with this error."""


class UnsupportedError(InvalidRequestError):
    """A feature the chosen upstream cannot carry; a 400 that names it."""


class UnsupportedMediaTypeError(InvalidRequestError):
    """A request body in a form the gateway cannot read, such as a content coding it does
    not know: a 415 (RFC 9110 §15.5.16). Anthropic has no type of its own for it and
    calls it an invalid_request_error (its 4xx catch-all), as OpenAI's shape does too."""

    status = 415


class AuthenticationError(GatewayError):
    status = 401
    kind = "authentication_error"


class PermissionDeniedError(GatewayError):
    status = 403
    kind = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    kind = "not_found_error"


class RequestTooLargeError(GatewayError):
    status = 413
    kind = "request_too_large"


class RateLimitError(GatewayError):
    status = 429
    kind = "rate_limit_error"


class OverloadedError(GatewayError):
    status = 529
    kind = "overloaded_error"


class ClientClosedError(GatewayError):
    """The client went away before its request was read, or before its answer (the run
    stopped, http_protocol.CANCEL_ON_DISCONNECT): nobody reads this answer, but the
    request log shows it (499, as nginx logs a closed request) instead of a traceback."""

    status = 499


class UpstreamError(GatewayError):
    """An error answered by the upstream, relayed with its status and a mapped body."""

    kind = "api_error"
    rate_limit_headers: tuple[tuple[str, str], ...] = ()
    """The upstream's rate-limit headers (`x-ratelimit-*`, `anthropic-ratelimit-*`,
    `retry-after-ms`), relayed to the client with the error: clients that pace themselves
    read them, and the SDKs retry after `retry-after-ms` to the millisecond."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        kind: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: str | None = None,
        rate_limit_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, status=status, param=param, code=code, retry_after=retry_after)
        if kind is not None:
            self.kind = kind
        self.rate_limit_headers = rate_limit_headers


def error_headers(error: GatewayError) -> dict[str, str]:
    """The headers a client gets with `error` besides the gateway's own: when to retry,
    and the upstream's rate-limit state."""
    headers = {"retry-after": error.retry_after} if error.retry_after else {}
    if isinstance(error, UpstreamError):
        headers.update(error.rate_limit_headers)
    return headers


class UpstreamUnreachableError(GatewayError):
    status = 502
    kind = "api_error"


class UpstreamTimeoutError(GatewayError):
    status = 504
    kind = "timeout_error"


def internal_error() -> GatewayError:
    """What the client is told of a fault in the gateway itself (the log has the rest)."""
    return GatewayError("The gateway hit an internal error; see its log.")


def upstream_credential_error(status: int) -> UpstreamError:
    """An upstream 401/403: the gateway's own provider key was refused. The client gets a
    500 without the upstream's text, which may quote part of the operator's key."""
    return UpstreamError(
        f"The upstream provider rejected the gateway's credentials (HTTP {status});"
        " the gateway's provider configuration needs fixing.",
        status=500,
        kind="api_error",
    )


def kind_for_status(status: int) -> str:
    """The neutral error kind for an upstream HTTP status."""
    return _KIND_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


_KIND_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def first_line(exc: BaseException) -> str:
    """An exception's message for a one-line log or report: its first line, else its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
