"""SearXNG (self-hosted metasearch) through its JSON API: `GET {base_url}/search?format=json`.

The instance must list `json` under `search.formats` in its settings.yml, else it answers
403, reported as `unavailable`. SearXNG takes no location, so `user_location` is not sent;
`language` ("all" by default) is the instance's own search-language setting.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec

from polyrelay.fetch.settings import DEFAULT_MAX_BYTES
from polyrelay.ir.tools import UserLocation
from polyrelay.search.backends import (
    HttpJsonClient,
    SearchError,
    SearchHit,
    check_query,
    plain_text,
)

__all__ = ["SearxngBackend"]


class _Result(msgspec.Struct):
    url: str
    title: str = ""
    content: str | None = None
    published_date: str | None = msgspec.field(default=None, name="publishedDate")


class _Response(msgspec.Struct):
    results: list[_Result] = []
    unresponsive_engines: list[Any] = []


class SearxngBackend:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        language: str = "all",
        session: aiohttp.ClientSession | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._url = base_url.rstrip("/") + "/search"
        self._language = language
        self._http = HttpJsonClient(timeout=timeout, session=session, max_bytes=max_bytes)

    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        del location  # SearXNG has no location parameter.
        params = {"q": check_query(query), "format": "json", "language": self._language}
        answer = await self._http.request("GET", self._url, _Response, params=params)
        if not answer.results and answer.unresponsive_engines:
            engines = ", ".join(str(entry) for entry in answer.unresponsive_engines)
            raise SearchError("unavailable", f"no SearXNG engine answered: {engines}")
        return [_hit(result) for result in answer.results[: max(limit, 0)]]


def _hit(result: _Result) -> SearchHit:
    return SearchHit(
        url=result.url,
        title=plain_text(result.title),
        text=plain_text(result.content or ""),
        page_age=result.published_date,
    )
