"""`UrlFetcher.post` (webhook deliveries): the fetcher's address rules and pinned
resolution apply, and redirects are never followed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address

import pytest
from aiohttp import web

from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.client import UrlFetcher
from polyrelay.fetch.policy import IPAddress
from polyrelay.fetch.settings import FetchSettings


@asynccontextmanager
async def serve(received: list[tuple[str, bytes, str]]) -> AsyncIterator[str]:
    async def hook(request: web.Request) -> web.Response:
        received.append((request.path, await request.read(), request.headers["x-sig"]))
        return web.Response(status=204)

    async def moved(request: web.Request) -> web.Response:
        received.append((request.path, await request.read(), ""))
        raise web.HTTPTemporaryRedirect("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_post_sends_body_and_headers_and_never_follows_redirects() -> None:
    async def main() -> None:
        received: list[tuple[str, bytes, str]] = []
        fetcher = UrlFetcher.from_settings(FetchSettings(allow=("127.0.0.1/32",)))
        async with serve(received) as base:
            ok = await fetcher.post(f"{base}/hook", b'{"a":1}', {"x-sig": "v1,abc"})
            moved = await fetcher.post(f"{base}/moved", b"{}", {})
        assert ok.status == 204
        assert moved.status == 307  # returned, not followed
        assert received == [("/hook", b'{"a":1}', "v1,abc"), ("/moved", b"{}", "")]

    asyncio.run(main())


def test_post_refuses_addresses_the_policy_refuses() -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ip_address("10.0.0.7")]

    async def main() -> None:
        fetcher = UrlFetcher.from_settings(FetchSettings(), resolve)
        for url in ("http://127.0.0.1:9999/hook", "http://hooks.example/x"):
            with pytest.raises(InvalidRequestError, match="URL refused"):
                await fetcher.post(url, b"{}", {})
            with pytest.raises(InvalidRequestError, match="URL refused"):
                await fetcher.check_address(url)

    asyncio.run(main())
