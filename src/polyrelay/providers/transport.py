"""UpstreamClient: the one place that talks HTTP to providers.

Built on one shared aiohttp ClientSession per process (aiohttp's client measured
faster than httpx's for small proxied requests; see bench/). Connection errors become
UpstreamUnreachableError (502) and timeouts UpstreamTimeoutError (504), so the pipeline
never sees a transport exception type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp

from polyrelay.errors import GatewayError, UpstreamTimeoutError, UpstreamUnreachableError
from polyrelay.providers import UpstreamRequest, UpstreamResponse
from polyrelay.settings import ProviderConfig

__all__ = ["UpstreamClient", "UpstreamStream", "transport_error"]


def _timeout(provider: ProviderConfig) -> aiohttp.ClientTimeout:
    # No total timeout: a long stream is fine as long as bytes keep coming.
    return aiohttp.ClientTimeout(
        total=None, connect=provider.connect_timeout, sock_read=provider.timeout
    )


def transport_error(exc: BaseException, url: str) -> GatewayError:
    """The gateway error for a transport failure talking to `url`."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeoutError(f"The upstream at {url} did not answer in time.")
    return UpstreamUnreachableError(f"The upstream at {url} could not be reached: {exc}")


class UpstreamStream:
    """An open streamed upstream response. Close it (or use `async with`) when done:
    closing before EOF drops the connection, which cancels the upstream request."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self.url = url
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, self.url) from exc

    def at_eof(self) -> bool:
        """The whole body has arrived and been taken: no chunk will follow."""
        return self._response.content.at_eof()

    async def read(self) -> UpstreamResponse:
        try:
            body = await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, self.url) from exc
        return UpstreamResponse(status=self.status, headers=self.headers, body=body)

    def close(self) -> None:
        if not self._response.closed:
            # Before EOF, close() drops the connection (release() would drain it).
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
    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily so it binds to the running event loop of the worker.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def send(self, request: UpstreamRequest, provider: ProviderConfig) -> UpstreamResponse:
        async with await self.open(request, provider) as stream:
            return await stream.read()

    async def open(self, request: UpstreamRequest, provider: ProviderConfig) -> UpstreamStream:
        """Send the request and return once the status and headers arrived."""
        try:
            response = await self._client().request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=_timeout(provider),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, request.url) from exc
        return UpstreamStream(response, request.url)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
