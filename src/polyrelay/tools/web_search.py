"""The web search server tool, run by the gateway for upstreams without a native one.

What the model sees: a function tool of the client's tool name (default `web_search`) taking
`{"query": string}`; each call's tool result is the numbered hit list (title, URL, date,
excerpt; cut to the bounds of `web_search_limits`) or one line naming the error.

What the client sees (Anthropic's blocks, rendered by each frontend in its own dialect):
`server_tool_use` (id `srvtoolu_…`, input `{query}`), `web_search_tool_result` with
`web_search_result`s (url, title, page_age, encrypted_content) or an error
(`max_uses_exceeded`, `invalid_tool_input`, `query_too_long`, `too_many_requests`,
`unavailable`), and text with `web_search_result_location` citations.

Opaque tokens. `encrypted_content` is `prs1.` + URL-safe base64 of the hit's excerpt, so a
later turn that sends the block back can be replayed to the model without the search being
run again; `encrypted_index` is `prs1.` + base64 of `<tool_use_id>/<result index>`. Neither
is encrypted: they are the gateway's own equivalents of Anthropic's blobs.

Citation rule (deterministic): a text part cites a result when the text contains the
result's URL, or else its title (titles of at least 12 characters, to avoid chance
matches). The citation spans that occurrence; `cited_text` is the excerpt's first 150
characters.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path

from polyrelay.codec import DecodeError, decode, encode_str
from polyrelay.context import RequestContext
from polyrelay.fetch.settings import DEFAULT_MAX_BYTES
from polyrelay.ir import (
    ChatRequest,
    Citation,
    FunctionTool,
    ServerToolCallPart,
    ServerToolResultPart,
    ToolCallPart,
    WebSearchResult,
    WebSearchTool,
)
from polyrelay.providers import Capabilities
from polyrelay.search.backends import (
    SearchBackend,
    SearchError,
    SearchHit,
    check_query,
    search_filtered,
)
from polyrelay.search.domains import DomainFilter
from polyrelay.search.factory import make_backend
from polyrelay.search.settings import SearchSettings
from polyrelay.tools.web_search_limits import bounded_hits

__all__ = [
    "BLOB_PREFIX",
    "DEFAULT_ROUNDS",
    "WebSearch",
    "WebSearchRuntime",
    "excerpt_of",
]

log = logging.getLogger("polyrelay.search")

"""Upstream types that run web_search_20250305 themselves: the tool passes through."""
BLOB_PREFIX = "prs1."
DEFAULT_ROUNDS = 10
"""Model calls per answer when the tool sets no max_uses."""
_CITED_CHARS = 150
_MIN_TITLE_MATCH = 12
_DESCRIPTION = (
    "Search the web. Returns numbered results with title, URL and an excerpt. "
    "Cite a result by writing its URL."
)
_PARAMETERS = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The search query."}},
    "required": ["query"],
    "additionalProperties": False,
}
_ERROR_TEXT = {
    "max_uses_exceeded": "the search limit for this request is reached; answer with the "
    "results you already have",
    "invalid_tool_input": "the call needs a non-empty string `query`",
    "query_too_long": "the query is too long; use a shorter one",
    "too_many_requests": "the search service is rate limited; try again later",
    "unavailable": "the search service is unavailable",
}


def _token(text: str) -> str:
    return BLOB_PREFIX + base64.urlsafe_b64encode(text.encode()).decode()


def excerpt_of(result: WebSearchResult) -> str | None:
    """The excerpt inside a gateway `encrypted_content`; None for anyone else's blob."""
    blob = result.encrypted_content
    if not blob.startswith(BLOB_PREFIX):
        return None
    try:
        return base64.urlsafe_b64decode(blob[len(BLOB_PREFIX) :]).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


class WebSearch:
    """One request's web search tool: its options, its backend, its use count."""

    def __init__(
        self,
        options: WebSearchTool,
        backend: SearchBackend | None,
        ctx: RequestContext,
        *,
        max_results: int = 5,
    ) -> None:
        self.name = options.name
        self._options = options
        self._backend = backend
        self._ctx = ctx
        self._max_results = max_results
        self._filter = DomainFilter(options.allowed_domains, options.blocked_domains)
        self._uses = 0
        self._requests = 0

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def max_rounds(self) -> int:
        # max_uses rounds that search, one whose extra search gets max_uses_exceeded, and
        # one in which the model reads that error and answers, as Anthropic's does.
        uses = self._options.max_uses
        return uses + 2 if uses is not None else DEFAULT_ROUNDS

    def declaration(self) -> FunctionTool:
        return FunctionTool(name=self.name, description=_DESCRIPTION, parameters=_PARAMETERS)

    def server_call(self, call: ToolCallPart) -> ServerToolCallPart:
        query = _query_of(call.arguments)
        arguments = encode_str({"query": query}) if query is not None else call.arguments
        return ServerToolCallPart(
            id="srvtoolu_" + secrets.token_hex(12), name=self.name, arguments=arguments
        )

    async def run(self, call: ServerToolCallPart) -> ServerToolResultPart:
        max_uses = self._options.max_uses
        if max_uses is not None and self._uses >= max_uses:
            return self._error(call, "max_uses_exceeded")
        self._uses += 1
        query = _query_of(call.arguments)
        if query is None:
            return self._error(call, "invalid_tool_input")
        try:
            hits = await self._search(check_query(query))
        except SearchError as error:
            log.info("web search %r failed: %s", query, error)
            return self._error(call, error.code)
        self._requests += 1
        results = tuple(
            WebSearchResult(
                url=hit.url,
                title=hit.title,
                page_age=hit.page_age,
                encrypted_content=_token(hit.text),
            )
            for hit in bounded_hits(hits)
        )
        return ServerToolResultPart(tool_call_id=call.id, name=self.name, results=results)

    async def _search(self, query: str) -> list[SearchHit]:
        if self._backend is None:
            self._ctx.warn("the local search index is empty; run `polyrelay search ingest`")
            return []
        return await search_filtered(
            self._backend,
            query,
            limit=self._max_results,
            location=self._options.user_location,
            domains=self._filter,
        )

    def _error(self, call: ServerToolCallPart, code: str) -> ServerToolResultPart:
        return ServerToolResultPart(tool_call_id=call.id, name=self.name, error_code=code)

    def feedback(self, result: ServerToolResultPart) -> str:
        if result.error_code is not None:
            reason = _ERROR_TEXT.get(result.error_code, "the search failed")
            return f"Web search error {result.error_code}: {reason}."
        if not result.results:
            return "The web search found no results."
        blocks = []
        for number, hit in enumerate(result.results, 1):
            lines = [f"[{number}] {hit.title}", f"URL: {hit.url}"]
            if hit.page_age:
                lines.append(f"Date: {hit.page_age}")
            excerpt = excerpt_of(hit)
            lines.append(excerpt if excerpt else "(no excerpt available)")
            blocks.append("\n".join(lines))
        return "Web search results:\n\n" + "\n\n".join(blocks)

    def citations(self, text: str, results: Sequence[ServerToolResultPart]) -> tuple[Citation, ...]:
        out: dict[str, Citation] = {}
        for result in results:
            for index, hit in enumerate(result.results):
                if hit.url in out:
                    continue
                citation = _citation(text, hit, f"{result.tool_call_id}/{index}")
                if citation is not None:
                    out[hit.url] = citation
        return tuple(sorted(out.values(), key=lambda c: c.start_index or 0))


def _citation(text: str, hit: WebSearchResult, locator: str) -> Citation | None:
    needle = hit.url
    start = text.find(needle) if needle else -1
    if start < 0 and len(hit.title) >= _MIN_TITLE_MATCH:
        needle = hit.title
        start = text.find(needle)
    if start < 0:
        return None
    excerpt = excerpt_of(hit) or hit.title
    return Citation(
        url=hit.url,
        title=hit.title or None,
        cited_text=excerpt[:_CITED_CHARS],
        encrypted_index=_token(locator),
        start_index=start,
        end_index=start + len(needle),
    )


def _query_of(arguments: str) -> str | None:
    try:
        value = decode(arguments) if arguments else None
    except DecodeError:
        return None
    query = value.get("query") if isinstance(value, dict) else None
    return query if isinstance(query, str) and query.strip() else None


class WebSearchRuntime:
    """The gateway's search backend (built at start-up, closed at shut-down) and the
    per-request `WebSearch` tools that use it."""

    def __init__(self, settings: SearchSettings, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._settings = settings
        self._max_bytes = max_bytes
        """The most a web backend's answer may hold (`fetch.max_bytes`)."""
        self._backend: SearchBackend | None = None

    async def start(self) -> None:
        if self._missing_local_index():
            log.info(
                "web search: the local index %s does not exist yet; searches find nothing "
                "until `polyrelay search ingest` fills it",
                self._settings.index_path,
            )
            return
        self._backend = self._make_backend()

    async def close(self) -> None:
        backend, self._backend = self._backend, None
        close = getattr(backend, "close", None)
        if callable(close):
            close()

    def backend(self) -> SearchBackend | None:
        if self._backend is None and not self._missing_local_index():
            self._backend = self._make_backend()
        return self._backend

    def _make_backend(self) -> SearchBackend:
        return make_backend(self._settings, max_bytes=self._max_bytes)

    def _missing_local_index(self) -> bool:
        path = self._settings.index_path.removeprefix("sqlite:///")
        return self._settings.backend == "local" and path != ":memory:" and not Path(path).exists()

    @staticmethod
    def emulates(request: ChatRequest, upstream: Capabilities) -> bool:
        """Whether the gateway runs the request's web search (the upstream cannot)."""
        return request.web_search is not None and not upstream.native_web_search

    def tool_for(
        self, request: ChatRequest, upstream: Capabilities, ctx: RequestContext
    ) -> WebSearch | None:
        """The tool the gateway runs for `request`, or None when there is no web search or
        the upstream runs it natively."""
        if request.web_search is None or not self.emulates(request, upstream):
            return None
        return WebSearch(
            request.web_search, self.backend(), ctx, max_results=self._settings.max_results
        )
