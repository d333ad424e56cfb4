"""UpstreamClient: the one place that talks HTTP to providers.

Built on polyrelay's own lean HTTP/1.1 client (providers/http1/; why it is not aiohttp is
measured there and in bench/). Connection errors become UpstreamUnreachableError (502),
timeouts UpstreamTimeoutError (504) and an answer in a content coding the client cannot
read (http1/coding.py) an UpstreamError (502) that names it, so the pipeline never sees
a transport exception type.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import TracebackType

from polyrelay.errors import (
    GatewayError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from polyrelay.providers import UpstreamRequest, UpstreamResponse
from polyrelay.providers.http1 import Http1Client, Http1Response
from polyrelay.providers.http1.response import BodyTooLargeError, UnreadableEncodingError
from polyrelay.settings import ProviderConfig

__all__ = ["MAX_BODY_BYTES", "UpstreamClient", "UpstreamStream", "transport_error"]

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest upstream answer read whole (not streamed): far above any model's reply,
images included, and a bound on what a broken upstream can make the gateway hold."""

log = logging.getLogger("polyrelay.upstream")

_TRANSPORT_ERRORS = (OSError, ValueError)
"""What the HTTP client raises for a failed exchange: OSError covers connection errors,
TLS, timeouts (TimeoutError) and the client's own UpstreamClosedError; ValueError a URL or
header it refuses to send."""


def transport_error(exc: BaseException, url: str, *, answering: bool = False) -> GatewayError:
    """The gateway error for a transport failure talking to `url`, which is logged and
    not told to the client (it may name an internal host). `answering`: the upstream had
    begun its answer (status and headers came), so it was reached and then broke off."""
    log.warning("upstream %s: %s", url, str(exc) or type(exc).__name__)
    if isinstance(exc, asyncio.TimeoutError):
        if answering:
            return UpstreamTimeoutError("The upstream stopped sending its answer (timed out).")
        return UpstreamTimeoutError("The upstream did not answer in time.")
    if answering:
        return UpstreamUnreachableError(f"The upstream's answer broke off: {exc}")
    return UpstreamUnreachableError(f"The upstream could not be reached: {exc}")


def _too_large() -> UpstreamError:
    return UpstreamError(
        f"the upstream's answer is larger than {MAX_BODY_BYTES >> 20} MiB, "
        "the most the gateway reads",
        status=502,
    )


class UpstreamStream:
    """An open streamed upstream response. Close it (or use `async with`) when done:
    closing before EOF drops the connection, which cancels the upstream request."""

    def __init__(self, response: Http1Response, url: str) -> None:
        self._response = response
        self.url = url
        self.status = response.status
        self.headers = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.chunks():
                yield chunk
        except BodyTooLargeError:  # a compressed stream that inflated past the cap
            raise _too_large() from None
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self.url, answering=True) from exc

    def at_eof(self) -> bool:
        """The whole body has arrived and been taken: no chunk will follow."""
        return self._response.at_eof()

    async def read(self) -> UpstreamResponse:
        """The whole body, at most MAX_BODY_BYTES of it (a 502 past that)."""
        try:
            body = await self._response.read(MAX_BODY_BYTES)
        except BodyTooLargeError:
            raise _too_large() from None
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self.url, answering=True) from exc
        return UpstreamResponse(status=self.status, headers=self.headers, body=body)

    def close(self) -> None:
        self._response.close()

    async def __aenter__(self) -> UpstreamStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class UpstreamClient:
    def __init__(self) -> None:
        self._http: Http1Client | None = None

    def _client(self) -> Http1Client:
        # Created lazily so it binds to the running event loop of the worker.
        if self._http is None:
            self._http = Http1Client()
        return self._http

    async def send(self, request: UpstreamRequest, provider: ProviderConfig) -> UpstreamResponse:
        async with await self.open(request, provider) as stream:
            return await stream.read()

    async def open(self, request: UpstreamRequest, provider: ProviderConfig) -> UpstreamStream:
        """Send the request and return once the status and headers arrived. No total
        timeout: a long stream is fine as long as bytes keep coming."""
        try:
            response = await self._client().request(
                request.method,
                request.url,
                request.headers,
                request.body,
                connect_timeout=provider.connect_timeout,
                read_timeout=provider.timeout,
            )
        except _TRANSPORT_ERRORS as exc:
            raise transport_error(exc, request.url) from exc
        except UnreadableEncodingError as exc:
            log.warning("upstream %s: %s", request.url, exc)
            raise UpstreamError(str(exc), status=502) from exc
        return UpstreamStream(response, request.url)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
