"""make_backend: the search backend the `search:` settings name."""

from __future__ import annotations

import aiohttp

from polyrelay.fetch.settings import DEFAULT_MAX_BYTES
from polyrelay.search.backends import (
    SearchBackend,
)
from polyrelay.search.brave import BRAVE_BASE_URL, BraveBackend
from polyrelay.search.local_index import LocalIndex
from polyrelay.search.searxng import SearxngBackend
from polyrelay.search.settings import SearchSettings
from polyrelay.search.tavily import TAVILY_BASE_URL, TavilyBackend

__all__ = ["SearchConfigError", "make_backend"]


class SearchConfigError(ValueError):
    """The `search:` settings cannot build a backend; the message names the setting."""


def make_backend(
    settings: SearchSettings,
    *,
    session: aiohttp.ClientSession | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SearchBackend:
    """The backend `settings.backend` names. `session` is shared by the web backends (one
    per call when None); `max_bytes` bounds their answers (`fetch.max_bytes`); the local
    index opens its file now."""
    match settings.backend:
        case "local":
            try:
                return LocalIndex.open(settings.index_path)
            except ValueError as exc:
                raise SearchConfigError(f"search.index_path: {exc}") from exc
        case "searxng":
            if not settings.base_url:
                raise SearchConfigError("search.base_url is required for the searxng backend")
            return SearxngBackend(
                settings.base_url, timeout=settings.timeout, session=session, max_bytes=max_bytes
            )
        case "brave":
            return BraveBackend(
                _api_key(settings),
                base_url=settings.base_url or BRAVE_BASE_URL,
                timeout=settings.timeout,
                session=session,
                max_bytes=max_bytes,
            )
        case "tavily":
            return TavilyBackend(
                _api_key(settings),
                base_url=settings.base_url or TAVILY_BASE_URL,
                timeout=settings.timeout,
                session=session,
                max_bytes=max_bytes,
            )


def _api_key(settings: SearchSettings) -> str:
    if not settings.api_key:
        raise SearchConfigError(f"search.api_key is required for the {settings.backend} backend")
    return settings.api_key
