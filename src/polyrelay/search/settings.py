"""The `search:` section of the config file: which backend runs the web search tool."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from polyrelay.settings_values import check_header_value, check_http_url

__all__ = ["SearchBackendName", "SearchSettings"]

SearchBackendName = Literal["local", "searxng", "brave", "tavily"]


class SearchSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: SearchBackendName = "local"
    index_path: str = "search.db"
    """The local index's SQLite file (relative to the working directory), or `:memory:`."""
    base_url: str | None = None
    """SearXNG: required. Brave/Tavily: overrides the public API's URL (proxies, tests)."""
    api_key: str | None = None
    """Brave and Tavily: required."""
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_results: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    """Results per search handed to the model."""

    def __post_init__(self) -> None:
        if self.base_url is not None:
            check_http_url("base_url", self.base_url)
        check_header_value("api_key", self.api_key)  # Brave sends it in a header
        # Refused when the config is read (so `check` says it, and `serve` stops with one
        # line) rather than when `serve` builds the backend; an unset ${VAR} is empty.
        if self.backend == "searxng" and not self.base_url:
            raise ValueError("base_url: required for the searxng backend")
        if self.backend in ("brave", "tavily") and not self.api_key:
            raise ValueError(f"api_key: required for the {self.backend} backend")
