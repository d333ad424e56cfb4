"""Tavily Search API: `POST {base_url}/search`, key as a Bearer token.

`user_location` is not sent: Tavily's `country` takes an English country name ("norway"),
not the ISO code the tool carries, and a wrong name is a 400. HTTP 432/433 are Tavily's plan
and spending limits, reported as `too_many_requests` like a 429.
"""

from __future__ import annotations

import aiohttp
import msgspec

from polyrelay.fetch.settings import DEFAULT_MAX_BYTES
from polyrelay.ir.tools import UserLocation
from polyrelay.search.backends import HttpJsonClient, SearchHit, check_query

__all__ = ["TAVILY_BASE_URL", "TavilyBackend"]

TAVILY_BASE_URL = "https://api.tavily.com"
_MAX_RESULTS = 20


class _Result(msgspec.Struct):
    url: str
    title: str = ""
    content: str = ""
    published_date: str | None = None


class _Response(msgspec.Struct):
    results: list[_Result] = []


class _Request(msgspec.Struct, kw_only=True):
    query: str
    max_results: int
    search_depth: str = "basic"
    include_answer: bool = False
    include_raw_content: bool = False


class TavilyBackend:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = TAVILY_BASE_URL,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._url = base_url.rstrip("/") + "/search"
        self._key = api_key
        self._http = HttpJsonClient(
            timeout=timeout,
            session=session,
            max_bytes=max_bytes,
            status_codes={432: "too_many_requests", 433: "too_many_requests"},
        )

    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        del location  # See the module docstring.
        body = _Request(query=check_query(query), max_results=max(1, min(limit, _MAX_RESULTS)))
        headers = {"Authorization": f"Bearer {self._key}"}
        answer = await self._http.request("POST", self._url, _Response, headers=headers, body=body)
        return [
            SearchHit(url=r.url, title=r.title, text=r.content, page_age=r.published_date)
            for r in answer.results[:limit]
        ]
