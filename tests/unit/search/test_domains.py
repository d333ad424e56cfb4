from __future__ import annotations

import pytest

from polyrelay.search.domains import DomainFilter, DomainRule, parse_domain


@pytest.mark.parametrize(
    ("entry", "url", "covered"),
    [
        ("example.com", "https://example.com/", True),
        ("example.com", "https://docs.example.com/guide", True),
        ("example.com", "https://a.b.example.com/x", True),
        ("example.com", "https://notexample.com/", False),
        ("example.com", "https://example.com.evil.net/", False),
        ("docs.example.com", "https://docs.example.com/a", True),
        ("docs.example.com", "https://v2.docs.example.com/a", True),
        ("docs.example.com", "https://example.com/", False),
        ("docs.example.com", "https://blog.example.com/", False),
        ("www.example.com", "https://example.com/", False),
        ("www.example.com", "https://www.example.com/", True),
        ("example.com", "https://www.example.com/", True),
        ("Example.COM", "https://DOCS.example.com./", True),
        ("example.com/blog", "https://example.com/blog", True),
        ("example.com/blog", "https://example.com/blog/", True),
        ("example.com/blog", "https://example.com/blog/2024/post?x=1", True),
        ("example.com/blog", "https://example.com/blogger", False),
        ("example.com/blog", "https://example.com/", False),
        ("example.com/blog", "https://docs.example.com/blog/a", True),
        ("example.com/blog/", "https://example.com/blog/a", True),
        ("example.com/Blog", "https://example.com/blog", False),
        ("example.com/*/articles", "https://example.com/en/articles/1", True),
        ("example.com/*/articles", "https://example.com/en/news/1", False),
        ("example.com/", "https://example.com/anything", True),
        ("example.com", "http://example.com:8080/x", True),
        ("example.com", "file:///srv/example.com/page.html", False),
        ("example.com", "not a url", False),
        ("bücher.de", "https://xn--bcher-kva.de/", True),
    ],
)
def test_entry_coverage(entry: str, url: str, covered: bool) -> None:
    assert DomainFilter(allowed=[entry]).matches(url) is covered
    assert DomainFilter(blocked=[entry]).matches(url) is not covered


def test_allowed_list_keeps_only_covered_urls() -> None:
    domains = DomainFilter(allowed=["docs.example.com", "other.org/news"])
    urls = [
        "https://docs.example.com/a",
        "https://example.com/b",
        "https://other.org/news/today",
        "https://other.org/sport",
    ]
    assert [u for u in urls if domains.matches(u)] == [urls[0], urls[2]]


def test_empty_filter_lets_everything_through() -> None:
    domains = DomainFilter()
    assert not domains.active
    assert domains.matches("https://anything.example/")
    assert domains.matches("file:///tmp/x.html")


def test_apply_keeps_order() -> None:
    domains = DomainFilter(blocked=["spam.com"])
    items = ["https://a.com/1", "https://spam.com/x", "https://b.com/2"]
    assert domains.apply(items, str) == ["https://a.com/1", "https://b.com/2"]


def test_parse_normalises() -> None:
    assert parse_domain(" Docs.Example.COM./Blog/ ") == DomainRule("docs.example.com", "/Blog")
    assert str(parse_domain("example.com/")) == "example.com"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("https://example.com", "scheme"),
        ("http://example.com/blog", "scheme"),
        ("//example.com", "scheme"),
        ("", "empty"),
        ("   ", "empty"),
        ("*.example.com", "wildcard"),
        ("example.com:8080", "not a valid domain"),
        ("user@example.com", "without query"),
        ("example.com/a?b=1", "without query"),
        ("exa mple.com", "without query"),
        ("-bad-.com", "not a valid domain"),
        ("a..b", "not a valid domain"),
    ],
)
def test_bad_entries_raise(entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_domain(entry)
