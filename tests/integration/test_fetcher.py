"""The URL fetcher against real HTTP servers on loopback addresses.

Loopback is exactly what the policy refuses, so each test allow-lists the address its
server listens on (Linux routes all of 127.0.0.0/8 to `lo`, so 127.0.0.2 is a second,
separately allow-listable host).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from ipaddress import ip_address

import pytest
from aiohttp import web

from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.client import UrlFetcher
from polyrelay.fetch.policy import IPAddress
from polyrelay.fetch.settings import FetchSettings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CAP = 256 * 1024
BIG_TOTAL = 64 * 1024 * 1024


class Stats:
    def __init__(self) -> None:
        self.sent = 0
        self.hosts: list[str] = []


def build_app(stats: Stats, redirect_target: str = "") -> web.Application:
    async def image(request: web.Request) -> web.Response:
        stats.hosts.append(request.host)
        return web.Response(body=PNG, content_type="image/png")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    async def chain(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        location = "/image.png" if left == 0 else f"/chain/{left - 1}"
        raise web.HTTPFound(location)

    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPFound(redirect_target)

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = PNG + b"\x00" * (64 * 1024 - len(PNG))
        while stats.sent < BIG_TOTAL:
            await resp.write(chunk)
            stats.sent += len(chunk)
        return resp

    async def declared_big(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * (CAP + 1), content_type="image/png")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=PNG, content_type="image/png")

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(
            body=b"\x1f\x8b", headers={"Content-Type": "image/png", "Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_get("/image.png", image)
    app.router.add_get("/page", page)
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/elsewhere", elsewhere)
    app.router.add_get("/big", big)
    app.router.add_get("/declared-big", declared_big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    app.router.add_get("/gzipped", gzipped)
    return app


@asynccontextmanager
async def serve(host: str, stats: Stats, redirect_target: str = "") -> AsyncIterator[str]:
    runner = web.AppRunner(build_app(stats, redirect_target), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def fetcher(
    allow: tuple[str, ...] = (),
    resolver: Callable[[str, int], Awaitable[list[IPAddress]]] | None = None,
    **settings: float,
) -> UrlFetcher:
    options = FetchSettings(allow=allow, max_bytes=CAP, **settings)  # type: ignore[arg-type]
    return UrlFetcher.from_settings(options, resolver)


async def refused(fetch: Awaitable[object]) -> str:
    with pytest.raises(InvalidRequestError) as info:
        await fetch
    assert info.value.status == 400
    return info.value.message


def test_allow_listed_loopback_is_fetched() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            result = await fetcher(("127.0.0.1/32",)).fetch(f"{base}/image.png", accept=["image/*"])
        assert result.status == 200
        assert result.content_type == "image/png"
        assert result.body == PNG
        assert result.url == f"{base}/image.png"

    asyncio.run(main())


def test_loopback_is_refused_without_the_allow_list() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            message = await refused(fetcher().fetch(f"{base}/image.png"))
        assert message == (
            f"URL refused: {base}/image.png is 127.0.0.1, a loopback address; "
            "allow it with fetch.allow in the config"
        )

    asyncio.run(main())


def test_localhost_by_name_is_refused_without_the_allow_list() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            url = base.replace("127.0.0.1", "localhost") + "/image.png"
            message = await refused(fetcher().fetch(url))
            assert message == (  # by name, without a lookup
                f"URL refused: {url} names localhost, a loopback address; "
                "allow it with fetch.allow in the config"
            )
            allowed = await fetcher(("localhost",)).fetch(url)
        assert allowed.body == PNG

    asyncio.run(main())


def test_redirect_from_an_allowed_host_to_a_private_one_is_refused() -> None:
    async def main() -> None:
        stats = Stats()
        async with serve("127.0.0.1", stats) as private:
            target = f"{private}/image.png"
            async with serve("127.0.0.2", Stats(), redirect_target=target) as allowed:
                start = f"{allowed}/elsewhere"
                message = await refused(fetcher(("127.0.0.2/32",)).fetch(start))
        assert message.startswith(f"URL refused: {target} (redirected from {start}) is 127.0.0.1")
        assert "a loopback address" in message
        assert stats.hosts == []  # the private server was never contacted

    asyncio.run(main())


def test_five_redirects_are_followed_and_a_sixth_is_refused() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            client = fetcher(("127.0.0.1/32",))
            result = await client.fetch(f"{base}/chain/4")
            assert result.url == f"{base}/image.png"
            message = await refused(client.fetch(f"{base}/chain/5"))
        assert message == f"URL refused: {base}/chain/5 redirects more than 5 times"

    asyncio.run(main())


def test_a_body_over_the_cap_is_cut_off_while_reading() -> None:
    async def main() -> None:
        stats = Stats()
        async with serve("127.0.0.1", stats) as base:
            loop = asyncio.get_running_loop()
            started = loop.time()
            message = await refused(fetcher(("127.0.0.1/32",)).fetch(f"{base}/big"))
            elapsed = loop.time() - started
        assert f"is larger than the {CAP}-byte limit" in message
        assert stats.sent < BIG_TOTAL // 4  # the client stopped reading long before the end
        assert elapsed < 5

    asyncio.run(main())


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            message = await refused(fetcher(("127.0.0.1/32",)).fetch(f"{base}/declared-big"))
        assert f"is larger than the {CAP}-byte limit (fetch.max_bytes)" in message

    asyncio.run(main())


def test_a_content_type_mismatch_is_refused() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            client = fetcher(("127.0.0.1/32",))
            message = await refused(client.fetch(f"{base}/page", accept=["image/*"]))
            assert message == f"URL refused: {base}/page returned text/html, expected image/*"
            pdf = await refused(client.fetch(f"{base}/image.png", accept=["application/pdf"]))
            assert "returned image/png, expected application/pdf" in pdf
            page = await client.fetch(f"{base}/page", accept=["text/html"])
        assert page.content_type == "text/html"

    asyncio.run(main())


def test_a_server_that_sleeps_times_out() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            client = fetcher(("127.0.0.1/32",), read_timeout=0.3)
            started = asyncio.get_running_loop().time()
            message = await refused(client.fetch(f"{base}/slow"))
            assert asyncio.get_running_loop().time() - started < 3
        assert message == f"URL fetch failed: {base}/slow sent nothing for 0.3s"

    asyncio.run(main())


def test_the_whole_fetch_has_a_deadline() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            client = fetcher(("127.0.0.1/32",), total_timeout=0.3)
            message = await refused(client.fetch(f"{base}/slow"))
        assert message == f"URL fetch failed: {base}/slow did not finish within 0.3s"

    asyncio.run(main())


def test_error_statuses_and_encoded_bodies_are_refused() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            client = fetcher(("127.0.0.1/32",))
            missing = await refused(client.fetch(f"{base}/missing"))
            gzipped = await refused(client.fetch(f"{base}/gzipped"))
        assert missing == f"URL fetch failed: {base}/missing answered HTTP 404"
        assert "gzip-encoded body" in gzipped

    asyncio.run(main())


def test_connection_refused_is_a_clear_error() -> None:
    async def main() -> None:
        async with serve("127.0.0.1", Stats()) as base:
            pass  # the port is closed again
        message = await refused(fetcher(("127.0.0.1/32",)).fetch(f"{base}/image.png"))
        assert re.match(rf"URL fetch failed: {re.escape(base)}/image.png could not be", message)

    asyncio.run(main())


def test_the_host_is_resolved_once_and_the_checked_address_is_used() -> None:
    """DNS rebinding: a second lookup would answer 10.0.0.1; the connection must go to the
    address that was checked, while the Host header keeps the name."""

    async def main() -> None:
        answers = iter(["127.0.0.1", "10.0.0.1"])
        calls: list[str] = []

        async def rebinding(host: str, port: int) -> list[IPAddress]:
            calls.append(host)
            return [ip_address(next(answers))]

        stats = Stats()
        async with serve("127.0.0.1", stats) as base:
            port = base.rsplit(":", 1)[1]
            url = f"http://rebind.test:{port}/image.png"
            result = await fetcher(("127.0.0.1/32",), rebinding).fetch(url)
        assert result.body == PNG
        assert calls == ["rebind.test"]
        assert stats.hosts == [f"rebind.test:{port}"]

    asyncio.run(main())
