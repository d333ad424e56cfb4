"""The web search backends against recorded responses of their APIs, served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from polyrelay.ir.tools import UserLocation
from polyrelay.search.backends import SearchBackend, SearchError, search_filtered
from polyrelay.search.brave import BraveBackend
from polyrelay.search.cli import SimpleFetcher
from polyrelay.search.domains import DomainFilter
from polyrelay.search.factory import SearchConfigError, make_backend
from polyrelay.search.searxng import SearxngBackend
from polyrelay.search.settings import SearchSettings
from polyrelay.search.tavily import TavilyBackend
from tests.integration.servers import free_port

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "search"
OSLO = UserLocation(city="Oslo", region="Oslo", country="NO", timezone="Europe/Oslo")
YR = "https://www.yr.no/en/forecast/daily-table/1-72837/Norway/Oslo/Oslo/Oslo"
MET = "https://www.met.no/en/weather-and-climate/oslo-snow"
WIKI = "https://en.wikipedia.org/wiki/Climate_of_Oslo"


class RecordedApi:
    """Replays fixture files in order and records every request it gets."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.replies: list[tuple[int, bytes]] = []
        self.delay = 0.0

    def reply(self, fixture: str, status: int = 200) -> None:
        self.replies.append((status, (FIXTURES / fixture).read_bytes()))

    def reply_raw(self, body: bytes, status: int = 200) -> None:
        self.replies.append((status, body))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        await asyncio.sleep(self.delay)
        status, payload = self.replies.pop(0) if self.replies else (500, b"{}")
        return web.Response(status=status, body=payload, content_type="application/json")


@pytest.fixture
async def api() -> AsyncIterator[RecordedApi]:
    recorded = RecordedApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorded.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorded.url = f"http://127.0.0.1:{port}"
    yield recorded
    await runner.cleanup()


async def search_error(backend: SearchBackend, query: str = "oslo weather") -> str:
    with pytest.raises(SearchError) as caught:
        await backend.search(query, limit=5)
    return caught.value.code


# --- SearXNG -----------------------------------------------------------------------------


async def test_searxng_maps_results(api: RecordedApi) -> None:
    api.reply("searxng/basic.json")
    backend = SearxngBackend(api.url + "/", timeout=5)
    hits = await backend.search("  oslo weather ", limit=5, location=OSLO)
    assert [(h.url, h.title, h.page_age) for h in hits] == [
        (YR, "Oslo - Weather forecast from Yr", None),
        (MET, "Light snow expected in Oslo", "2025-01-14T08:30:00"),
        (WIKI, "Climate of Oslo - Wikipedia", None),
    ]
    assert hits[0].text == "Weather forecast for Oslo for the next 10 days & more."
    assert hits[2].text == ""
    [sent] = api.requests
    assert (sent["method"], sent["path"]) == ("GET", "/search")
    assert sent["query"] == {"q": "oslo weather", "format": "json", "language": "all"}


async def test_searxng_truncates_to_limit(api: RecordedApi) -> None:
    api.reply("searxng/basic.json")
    hits = await SearxngBackend(api.url, timeout=5).search("oslo weather", limit=2)
    assert [h.url for h in hits] == [YR, MET]


async def test_searxng_errors(api: RecordedApi) -> None:
    backend = SearxngBackend(api.url, timeout=5)
    api.reply("searxng/engines-down.json")
    assert await search_error(backend) == "unavailable"
    api.reply_raw(b"<html>403 Forbidden</html>", status=403)  # format=json not enabled
    assert await search_error(backend) == "unavailable"
    api.reply_raw(b"Too Many Requests", status=429)  # the SearXNG limiter
    assert await search_error(backend) == "too_many_requests"
    api.reply_raw(b"not json")
    assert await search_error(backend) == "unavailable"


# --- Brave -------------------------------------------------------------------------------


async def test_brave_maps_results_and_passes_location(api: RecordedApi) -> None:
    api.reply("brave/basic.json")
    backend = BraveBackend("brave-key", base_url=api.url, timeout=5)
    hits = await backend.search("oslo weather", limit=5, location=OSLO)
    assert [(h.url, h.title, h.page_age) for h in hits] == [
        (YR, "Oslo - Weather forecast from Yr", "2 hours ago"),
        (MET, "Light snow expected in Oslo", "2025-01-13T08:30:00"),
        (WIKI, "Climate of Oslo - Wikipedia", None),
    ]
    assert hits[0].text == "Oslo weather forecast for the next 10 days & hourly details."
    [sent] = api.requests
    assert (sent["method"], sent["path"]) == ("GET", "/res/v1/web/search")
    assert sent["query"] == {"q": "oslo weather", "count": "5", "country": "NO"}
    headers = sent["headers"]
    assert headers["X-Subscription-Token"] == "brave-key"
    assert (headers["X-Loc-City"], headers["X-Loc-State-Name"]) == ("Oslo", "Oslo")
    assert (headers["X-Loc-Country"], headers["X-Loc-Timezone"]) == ("NO", "Europe/Oslo")


async def test_brave_without_location_and_count_cap(api: RecordedApi) -> None:
    api.reply("brave/no-results.json")
    backend = BraveBackend("brave-key", base_url=api.url, timeout=5)
    assert await backend.search("zzqx nothing matches this", limit=50) == []
    [sent] = api.requests
    assert sent["query"] == {"q": "zzqx nothing matches this", "count": "20"}
    assert not any(name.startswith("X-Loc") for name in sent["headers"])


async def test_brave_retries_without_an_unsupported_country(api: RecordedApi) -> None:
    api.reply("brave/upstream-422-country.json", status=422)
    api.reply("brave/basic.json")
    backend = BraveBackend("brave-key", base_url=api.url, timeout=5)
    hits = await backend.search("penguins", limit=1, location=UserLocation(country="AQ"))
    assert [h.url for h in hits] == [YR]
    assert [r["query"].get("country") for r in api.requests] == ["AQ", None]
    assert api.requests[1]["headers"]["X-Loc-Country"] == "AQ"


async def test_brave_errors(api: RecordedApi) -> None:
    backend = BraveBackend("brave-key", base_url=api.url, timeout=5)
    api.reply("brave/upstream-429.json", status=429)
    assert await search_error(backend) == "too_many_requests"
    api.reply("brave/upstream-401.json", status=401)
    assert await search_error(backend) == "unavailable"
    api.reply("brave/upstream-422-country.json", status=422)
    assert await search_error(backend) == "invalid_tool_input"
    api.reply_raw(b"{}", status=503)
    assert await search_error(backend) == "unavailable"


# --- Tavily ------------------------------------------------------------------------------


async def test_tavily_maps_results(api: RecordedApi) -> None:
    api.reply("tavily/basic.json")
    backend = TavilyBackend("tvly-key", base_url=api.url, timeout=5)
    hits = await backend.search("oslo weather", limit=3, location=OSLO)
    assert [(h.url, h.title, h.page_age) for h in hits] == [
        (YR, "Oslo - Weather forecast from Yr", None),
        (MET, "Light snow expected in Oslo", "Tue, 14 Jan 2025 08:30:00 GMT"),
        (WIKI, "Climate of Oslo - Wikipedia", None),
    ]
    assert hits[0].text == "Weather forecast for Oslo for the next 10 days. Light snow, -3°C."
    [sent] = api.requests
    assert (sent["method"], sent["path"]) == ("POST", "/search")
    assert sent["headers"]["Authorization"] == "Bearer tvly-key"
    assert sent["body"] == {
        "query": "oslo weather",
        "max_results": 3,
        "search_depth": "basic",
        "include_answer": False,
        "include_raw_content": False,
    }


async def test_tavily_errors(api: RecordedApi) -> None:
    backend = TavilyBackend("tvly-key", base_url=api.url, timeout=5)
    api.reply("tavily/upstream-432.json", status=432)
    assert await search_error(backend) == "too_many_requests"
    api.reply("tavily/upstream-401.json", status=401)
    assert await search_error(backend) == "unavailable"
    api.reply("tavily/upstream-400.json", status=400)
    assert await search_error(backend) == "invalid_tool_input"


# --- common ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", ["searxng", "brave", "tavily"])
async def test_bad_queries_never_reach_the_api(api: RecordedApi, backend_name: str) -> None:
    settings = SearchSettings(backend=backend_name, base_url=api.url, api_key="k")  # type: ignore[arg-type]
    backend = make_backend(settings)
    assert await search_error(backend, "  ") == "invalid_tool_input"
    assert await search_error(backend, "x" * 401) == "query_too_long"
    assert api.requests == []


async def test_domain_filter_applies_to_web_backends(api: RecordedApi) -> None:
    api.reply("brave/basic.json")
    backend = make_backend(SearchSettings(backend="brave", base_url=api.url, api_key="k"))
    hits = await search_filtered(
        backend, "oslo weather", limit=5, domains=DomainFilter(blocked=["met.no", "wikipedia.org"])
    )
    assert [h.url for h in hits] == [YR]
    assert api.requests[0]["query"]["count"] == "20"  # over-fetched for the filter


async def test_timeout_and_refused_connection_are_unavailable(api: RecordedApi) -> None:
    api.delay = 1.0
    api.reply("tavily/basic.json")
    assert await search_error(TavilyBackend("k", base_url=api.url, timeout=0.2)) == "unavailable"
    closed = f"http://127.0.0.1:{free_port()}"
    assert await search_error(SearxngBackend(closed, timeout=2)) == "unavailable"


async def test_shared_session_is_used(api: RecordedApi) -> None:
    api.reply("searxng/basic.json")
    async with aiohttp.ClientSession() as session:
        backend = make_backend(SearchSettings(backend="searxng", base_url=api.url), session=session)
        assert len(await backend.search("oslo", limit=5)) == 3
        assert not session.closed


def test_make_backend_names_the_missing_setting() -> None:
    with pytest.raises(SearchConfigError, match=r"search\.index_path"):
        make_backend(SearchSettings(index_path="/nonexistent/dir/search.db"))


@pytest.mark.parametrize(
    ("backend", "base_url", "message"),
    [
        ("searxng", None, "base_url: required for the searxng backend"),
        ("brave", None, "api_key: required for the brave backend"),
        ("tavily", "http://x", "api_key: required for the tavily backend"),
    ],
)
def test_a_backend_without_its_url_or_key_is_refused_with_the_config(
    backend: str, base_url: str | None, message: str
) -> None:
    """When the config is read (`check` says so, `serve` stops with one line), not when
    `serve` builds the backend (tests/integration/test_check.py)."""
    with pytest.raises(ValueError, match=message):
        SearchSettings(backend=backend, base_url=base_url)  # type: ignore[arg-type]


async def test_simple_fetcher_for_ingest(api: RecordedApi) -> None:
    api.reply_raw(b'{"page": 1}')
    api.reply_raw(b"{}", status=404)
    api.reply_raw(b"x" * 100)
    content_type, body = await SimpleFetcher().fetch(api.url + "/page")
    assert content_type.startswith("application/json")
    assert body == b'{"page": 1}'
    with pytest.raises(ValueError, match="HTTP 404"):
        await SimpleFetcher().fetch(api.url + "/missing")
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        await SimpleFetcher(max_bytes=10).fetch(api.url + "/big")
