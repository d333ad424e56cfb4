"""Brave Search API: `GET {base_url}/res/v1/web/search`, key in `X-Subscription-Token`.

Location: `country` takes the two-letter code, and the `X-Loc-*` headers carry city, region,
country and time zone. Brave accepts only the countries it supports in `country` and answers
422 otherwise, so a 422 with a country is retried once without it (the headers stay).
Snippets carry `<strong>` highlights, stripped here. `age` ("2 days ago", "January 5, 2025")
is Brave's human form of the page date, which is what `page_age` means.
"""

from __future__ import annotations

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

__all__ = ["BRAVE_BASE_URL", "BraveBackend"]

BRAVE_BASE_URL = "https://api.search.brave.com"
_MAX_COUNT = 20


class _Result(msgspec.Struct):
    url: str
    title: str = ""
    description: str = ""
    age: str | None = None
    page_age: str | None = None


class _Web(msgspec.Struct):
    results: list[_Result] = []


class _Response(msgspec.Struct):
    web: _Web | None = None


class BraveBackend:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = BRAVE_BASE_URL,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._url = base_url.rstrip("/") + "/res/v1/web/search"
        self._key = api_key
        self._http = HttpJsonClient(timeout=timeout, session=session, max_bytes=max_bytes)

    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        count = max(1, min(limit, _MAX_COUNT))
        params = {"q": check_query(query), "count": str(count)}
        headers = {"X-Subscription-Token": self._key, **_location_headers(location)}
        if location is not None and location.country:
            params["country"] = location.country
        try:
            answer = await self._http.request(
                "GET", self._url, _Response, params=params, headers=headers
            )
        except SearchError as exc:
            if exc.code != "invalid_tool_input" or "country" not in params:
                raise
            del params["country"]
            answer = await self._http.request(
                "GET", self._url, _Response, params=params, headers=headers
            )
        results = answer.web.results if answer.web else []
        return [_hit(result) for result in results[:limit]]


def _location_headers(location: UserLocation | None) -> dict[str, str]:
    if location is None:
        return {}
    fields = {
        "X-Loc-City": location.city,
        "X-Loc-State-Name": location.region,
        "X-Loc-Country": location.country,
        "X-Loc-Timezone": location.timezone,
    }
    return {name: value for name, value in fields.items() if value}


def _hit(result: _Result) -> SearchHit:
    return SearchHit(
        url=result.url,
        title=plain_text(result.title),
        text=plain_text(result.description),
        page_age=result.age or result.page_age,
    )
