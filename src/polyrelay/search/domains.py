"""Domain rules of the web search tool: which result URLs `allowed_domains` / `blocked_domains`
let through (DESIGN.md "Web search domain rules").

An entry is `host` or `host/path`, without a scheme, e.g. `example.com`, `docs.example.com`,
`example.com/blog`, `example.com/*/articles`.

- Hosts compare case-insensitively, a trailing dot ignored. Paths compare case-sensitively.
- An entry covers its host and every subdomain of it: `example.com` covers `docs.example.com`
  and `a.docs.example.com`. A named subdomain therefore covers only itself and what lies under
  it: `docs.example.com` does not cover `example.com` nor its sibling `blog.example.com`.
  The rule is the same for every entry because telling a registrable domain (`example.co.uk`)
  from a subdomain (`docs.example.com`) would need the Public Suffix List.
- `www.` is not stripped: `www.example.com` covers only `www.example.com` (and below), while
  `example.com` covers `www.example.com` anyway. Stripping it would silently widen an entry.
- A path covers itself and everything below it at a segment boundary: `example.com/blog`
  covers `/blog`, `/blog/` and `/blog/post-1`, not `/blogger`. `*` in a path matches any run
  of characters, `/` included. A wildcard in the host is rejected.
- Only http(s) URLs have a host: any other URL (e.g. a `file://` page of the local index) is
  covered by no entry, so an allow-list drops it and a block-list keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec

__all__ = ["DomainFilter", "DomainRule", "parse_domain"]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_MAX_HOST = 253
_T = TypeVar("_T")


class DomainRule(msgspec.Struct, frozen=True):
    """One parsed entry: a lower-case ASCII host and a path pattern ("" for any path)."""

    host: str
    path: str = ""

    def covers(self, host: str, path: str) -> bool:
        if host != self.host and not host.endswith("." + self.host):
            return False
        return not self.path or _path_pattern(self.path).match(path or "/") is not None

    def __str__(self) -> str:
        return self.host + self.path


def parse_domain(entry: str) -> DomainRule:
    """Parse one `allowed_domains`/`blocked_domains` entry; ValueError says what is wrong."""
    text = entry.strip()
    if _SCHEME.match(text) or text.lower().startswith("//"):
        raise ValueError(
            f"{entry!r} must not include a scheme: write example.com, not https://example.com"
        )
    if not text:
        raise ValueError("a domain must not be empty")
    if any(c in text for c in "?#@ \t"):
        raise ValueError(
            f"{entry!r} must be a domain with an optional path, without query or fragment"
        )
    host, slash, path = text.partition("/")
    return DomainRule(host=_parse_host(host, entry), path=_normalise_path(slash + path))


def _parse_host(host: str, entry: str) -> str:
    if "*" in host:
        raise ValueError(
            f"{entry!r}: a wildcard is allowed only in the path (a domain covers its subdomains)"
        )
    host = host.lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{entry!r} is not a valid domain name") from exc
    if len(host) > _MAX_HOST or not _HOST.match(host):
        raise ValueError(f"{entry!r} is not a valid domain name (no scheme, port or credentials)")
    return host


def _normalise_path(path: str) -> str:
    path = path.rstrip("/")
    return "" if path in ("", "/*") else path


def _path_pattern(path: str) -> re.Pattern[str]:
    body = ".*".join(re.escape(part) for part in path.split("*"))
    return re.compile(f"^{body}(?:/|$)")


def _url_host_path(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.rstrip("."), parts.path


class DomainFilter:
    """The gateway-side result filter built from a tool's allowed or blocked domains.

    `matches(url)` is True when the URL may be shown to the model: covered by an allowed
    entry (when there is an allow-list) and by no blocked entry.
    """

    __slots__ = ("allowed", "blocked")

    def __init__(self, allowed: Sequence[str] = (), blocked: Sequence[str] = ()) -> None:
        self.allowed = tuple(parse_domain(entry) for entry in allowed)
        self.blocked = tuple(parse_domain(entry) for entry in blocked)

    @property
    def active(self) -> bool:
        return bool(self.allowed or self.blocked)

    def matches(self, url: str) -> bool:
        target = _url_host_path(url)
        if target is None:
            return not self.allowed
        if self.allowed and not any(rule.covers(*target) for rule in self.allowed):
            return False
        return not any(rule.covers(*target) for rule in self.blocked)

    def apply(self, items: Iterable[_T], url_of: Callable[[_T], str]) -> list[_T]:
        """The items whose URL passes, in their order."""
        return [item for item in items if self.matches(url_of(item))]
