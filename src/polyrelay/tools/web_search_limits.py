"""How much of a search backend's hits goes into a tool result.

A backend's answer is bounded in bytes (`fetch.max_bytes`), but that is megabytes: all of
it would go to the model as the tool result (and back to the client in
`encrypted_content`), on every later turn too. A search result is a pointer with an
excerpt, so each excerpt is cut to a few paragraphs and one search's excerpts together to
a few pages, and the model is told where text was cut.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from polyrelay.search.backends import SearchHit

__all__ = [
    "MAX_EXCERPT_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_TOTAL_EXCERPT_CHARS",
    "MAX_URL_CHARS",
    "TRUNCATED",
    "bounded_hits",
]

MAX_EXCERPT_CHARS = 2_000
"""One hit's excerpt (Brave's and Tavily's snippets are a few hundred characters)."""
MAX_TOTAL_EXCERPT_CHARS = 10_000
"""All excerpts of one search together: later hits get what the earlier ones left."""
MAX_TITLE_CHARS = 300
MAX_URL_CHARS = 2_048
"""A longer URL is dropped with its hit: a cut URL would be a wrong one, and cited."""
_MAX_PAGE_AGE_CHARS = 64
TRUNCATED = " [truncated]"
"""Appended where text was cut, so the model knows there was more."""


def bounded_hits(hits: Iterable[SearchHit]) -> list[SearchHit]:
    """`hits` with titles and excerpts cut to the limits above, each marked where cut."""
    out: list[SearchHit] = []
    budget = MAX_TOTAL_EXCERPT_CHARS
    for hit in hits:
        if len(hit.url) > MAX_URL_CHARS:
            continue
        keep = min(MAX_EXCERPT_CHARS, budget)
        budget -= min(len(hit.text), keep)
        out.append(_bounded(hit, keep))
    return out


def _bounded(hit: SearchHit, keep: int) -> SearchHit:
    title, text, age = _cut(hit.title, MAX_TITLE_CHARS), _cut(hit.text, keep), hit.page_age
    if age is not None and len(age) > _MAX_PAGE_AGE_CHARS:
        age = None  # not a date
    if (title, text, age) == (hit.title, hit.text, hit.page_age):
        return hit
    return msgspec.structs.replace(hit, title=title, text=text, page_age=age)


def _cut(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    kept = text[:keep].rstrip()
    return kept + TRUNCATED if kept else TRUNCATED.lstrip()
