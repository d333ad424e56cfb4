"""The search backend seam: `SearchBackend`, its result `SearchHit`, its `SearchError`, and
the gateway-side step every backend goes through (`search_filtered`).

Contract for a backend's `search`: it validates the query with `check_query`, returns at most
`limit` hits best first, and raises only `SearchError` — transport failures, timeouts and
error statuses are mapped to one of `SEARCH_ERROR_CODES`, which are the `error_code` values
of an Anthropic `web_search_tool_result_error`. Domain filters are not the backend's job:
`search_filtered` applies them to whatever the backend returns, so every backend honours them
the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from operator import attrgetter
from typing import Literal, Protocol, TypeVar, get_args, runtime_checkable

import aiohttp
import msgspec

from polyrelay import codec
from polyrelay.fetch.body import INFLATABLE, BodyTooLarge, inflate_capped, read_capped
from polyrelay.fetch.settings import DEFAULT_MAX_BYTES
from polyrelay.ir.tools import UserLocation
from polyrelay.search.domains import DomainFilter

__all__ = [
    "MAX_QUERY_CHARS",
    "SEARCH_ERROR_CODES",
    "HttpJsonClient",
    "SearchBackend",
    "SearchError",
    "SearchErrorCode",
    "SearchHit",
    "check_query",
    "error_for_status",
    "plain_text",
    "search_filtered",
]

SearchErrorCode = Literal[
    "invalid_tool_input", "unavailable", "too_many_requests", "query_too_long"
]
SEARCH_ERROR_CODES: tuple[SearchErrorCode, ...] = get_args(SearchErrorCode)
MAX_QUERY_CHARS = 400
# With a domain filter, ask for more so that filtering still leaves `limit` hits.
_OVERFETCH = 4
_MAX_FETCH = 50
_DETAIL_BYTES = 200
# A tag holds no `<`: an unclosed `<` stops the match at the next one, so a run of them
# costs a scan each up to there, not to the end (`<[^>]*>` was quadratic in `<<<…`).
_TAG = re.compile(r"<[^<>]*>")
T = TypeVar("T")


class SearchError(Exception):
    """A search that failed; `code` is what the tool result reports to the model."""

    def __init__(self, code: SearchErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: SearchErrorCode = code
        self.message = message


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    title: str
    text: str
    """A snippet of the page around the query's terms (or its start)."""
    page_age: str | None = None
    """The page's date as the backend gives it: an ISO date or e.g. "2 days ago"."""


@runtime_checkable
class SearchBackend(Protocol):
    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        """At most `limit` hits for `query`, best first. `location` biases results when the
        backend can use it and is ignored otherwise. Raises only SearchError."""
        ...


def check_query(query: str) -> str:
    """The stripped query, or SearchError for an empty or over-long one."""
    text = query.strip()
    if not text:
        raise SearchError("invalid_tool_input", "the search query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(
            "query_too_long",
            f"the search query is {len(text)} characters; at most {MAX_QUERY_CHARS}",
        )
    return text


async def search_filtered(
    backend: SearchBackend,
    query: str,
    *,
    limit: int,
    location: UserLocation | None = None,
    domains: DomainFilter | None = None,
) -> list[SearchHit]:
    """Search, drop hits the domain filter refuses and duplicate URLs, keep at most `limit`."""
    filtering = domains is not None and domains.active
    wanted = max(limit, min(limit * _OVERFETCH, _MAX_FETCH)) if filtering else limit
    hits = await backend.search(query, limit=wanted, location=location)
    if domains is not None:
        hits = domains.apply(hits, attrgetter("url"))
    unique: dict[str, SearchHit] = {}
    for hit in hits:
        unique.setdefault(hit.url, hit)
    return list(unique.values())[:limit]


def error_for_status(
    status: int, detail: str = "", overrides: Mapping[int, SearchErrorCode] | None = None
) -> SearchError:
    """The SearchError for an HTTP error status of a search API (`overrides` first)."""
    message = f"the search API answered HTTP {status}" + (f": {detail}" if detail else "")
    if overrides and status in overrides:
        return SearchError(overrides[status], message)
    if status == 429:
        return SearchError("too_many_requests", message)
    if status == 414:
        return SearchError("query_too_long", message)
    if status in (400, 422):
        return SearchError("invalid_tool_input", message)
    return SearchError("unavailable", message)


class HttpJsonClient:
    """JSON-over-HTTP for the web backends, on an injected aiohttp session or, without one,
    a session per call (searches are rare next to model calls; the per-call session keeps
    the backend free of lifecycle).

    An answer is read under `max_bytes` (the fetch limit, `fetch.max_bytes`) as sent and
    again once inflated: aiohttp's own decompression is off, since it would inflate a
    gzip bomb whole before anything could count it. Past the limit the search fails as
    `unavailable`, like any answer the gateway cannot use."""

    __slots__ = ("_max_bytes", "_overrides", "_session", "_timeout")

    def __init__(
        self,
        *,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        status_codes: Mapping[int, SearchErrorCode] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._overrides = dict(status_codes or {})
        self._max_bytes = max_bytes

    async def request(
        self,
        method: str,
        url: str,
        into: type[T],
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: object | None = None,
    ) -> T:
        """The 2xx answer's JSON body decoded as `into`; SearchError for anything else."""
        data = None if body is None else codec.encode(body)
        all_headers = {
            "Accept": "application/json",
            "Accept-Encoding": ", ".join(INFLATABLE),
            **(headers or {}),
        }
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        try:
            if self._session is not None:
                raw = await self._send(self._session, method, url, params, all_headers, data)
            else:
                async with aiohttp.ClientSession(auto_decompress=False) as session:
                    raw = await self._send(session, method, url, params, all_headers, data)
        except TimeoutError as exc:
            raise SearchError(
                "unavailable", f"the search API did not answer in time: {url}"
            ) from exc
        except aiohttp.ClientError as exc:
            raise SearchError("unavailable", f"the search API could not be reached: {exc}") from exc
        try:
            return codec.decode_as(raw, into)
        except (codec.DecodeError, msgspec.ValidationError) as exc:
            raise SearchError(
                "unavailable", f"the search API answered unexpected JSON: {exc}"
            ) from exc

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        params: dict[str, str] | None,
        headers: dict[str, str],
        data: bytes | None,
    ) -> bytes:
        async with session.request(
            method,
            url,
            params=params,
            headers=headers,
            data=data,
            timeout=self._timeout,
            auto_decompress=False,  # an injected session's setting must not matter
        ) as response:
            if response.status >= 300:
                detail = await _detail(response)
                raise error_for_status(response.status, detail, self._overrides)
            return await self._body(response)

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._max_bytes
        encoding = response.headers.get("Content-Encoding", "")
        try:
            return inflate_capped(await read_capped(response, limit), encoding, limit)
        except BodyTooLarge:
            raise SearchError(
                "unavailable",
                f"the search API answered more than {limit} bytes (fetch.max_bytes)",
            ) from None
        except ValueError as exc:
            raise SearchError("unavailable", f"the search API answered {exc}") from None


def plain_text(markup: str) -> str:
    """Snippet text without the highlight tags and entities some APIs put in it."""
    return " ".join(html.unescape(_TAG.sub("", markup)).split())


async def _detail(response: aiohttp.ClientResponse) -> str:
    """The start of an error answer, for the log; nothing more of it is read."""
    raw = await response.content.read(_DETAIL_BYTES)
    if response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        return ""  # compressed: its first bytes say nothing
    return raw.decode("utf-8", "replace").strip()
