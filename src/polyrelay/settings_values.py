"""Checks of single config values, one for each kind of value, so that every field of a
kind is refused in one place and in the same words: names, base URLs, and upstream header
fields.

Each raises ValueError naming the field; the config reader (polyrelay.settings) adds the
file, the line and the section (`providers.local: headers: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["check_header_value", "check_headers", "check_http_url", "require_name"]

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 9110's token: what a header name may be made of."""
_NOT_HEADER_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Control characters but the tab: CR and LF above all, which end a header line."""


def require_name(field: str, value: str) -> None:
    """A name (a provider's, a model's, the upstream's model, a key's) must name
    something: blank, it is sent upstream as no model, or identifies nothing."""
    if not value.strip():
        raise ValueError(f"{field}: must not be empty")


def check_http_url(field: str, url: str) -> None:
    """A base URL the gateway sends requests to: else every request (and `check`) fails
    on it; an unset ${VAR} expands to nothing. Credentials in it are not repeated."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = "a URL with credentials" if "@" in url else repr(url)
        raise ValueError(f"{field}: expected an http:// or https:// URL, got {shown}")


def check_headers(headers: Mapping[str, str]) -> None:
    """Extra headers of every upstream request: each a header name and a one-line value."""
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"headers: {name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
            )
        check_header_value(f"headers: {name}", value)


def check_header_value(field: str, value: str | None) -> None:
    """A value sent in a header of every upstream request (an extra header, the API key).
    A line break in it would end that header and start one of the config's making in
    every request (header injection), so it is refused, as other control characters are.
    The value is not quoted: it may be a secret."""
    if value is not None and _NOT_HEADER_TEXT.search(value):
        raise ValueError(
            f"{field}: the value has a line break (CR or LF) or another control"
            " character; a header value must be one line of text"
        )
