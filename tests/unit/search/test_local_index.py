from __future__ import annotations

import os
from pathlib import Path

import pytest

from polyrelay.ir.tools import UserLocation
from polyrelay.search.backends import SearchError, search_filtered
from polyrelay.search.cli import run_ingest
from polyrelay.search.domains import DomainFilter
from polyrelay.search.factory import make_backend
from polyrelay.search.ingest import ingest
from polyrelay.search.local_index import LocalIndex
from polyrelay.search.settings import SearchSettings

pytestmark = pytest.mark.anyio


def html_page(url: str, title: str, body: str, date: str | None = None) -> str:
    meta = f'<meta name="date" content="{date}">' if date else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>{meta}"
        f'<link rel="canonical" href="{url}"><style>.x {{color: red}}</style>'
        f"<script>var hidden = 'javascript secret';</script></head>"
        f"<body><h1>{title}</h1><p>{body}</p></body></html>"
    )


def markdown_page(url: str, title: str, body: str) -> str:
    return f"---\nurl: {url}\ndate: 2024-03-01\n---\n# {title}\n\nSome *{body}* with [a link](https://x.y/).\n"


# Each page mentions "kraken" so one query returns all of them.
PAGES = {
    "example/index.html": html_page("https://example.com/", "Example home", "kraken home page"),
    "example/docs/guide.html": html_page(
        "https://docs.example.com/guide", "Docs guide", "kraken docs guide", "2024-05-01"
    ),
    "example/docs/api.html": html_page(
        "https://api.docs.example.com/v1", "API reference", "kraken api reference"
    ),
    "example/blog/post.md": markdown_page(
        "https://example.com/blog/post-1", "Blog post", "kraken blog post"
    ),
    "example/blogger.md": markdown_page(
        "https://example.com/blogger", "Blogger page", "kraken blogger page"
    ),
    "example/www.html": html_page("https://www.example.com/about", "WWW about", "kraken about"),
    "other/news.md": markdown_page("https://other.org/news/today", "Other news", "kraken news"),
    "other/notes.txt": "Plain notes about the kraken\n\nThe kraken lives in the deep sea.\n",
    "other/.hidden/secret.html": html_page("https://hidden.example/", "Hidden", "kraken hidden"),
    "other/image.png": "not a page",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    for name, content in PAGES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
async def index(corpus: Path) -> LocalIndex:
    index = LocalIndex.open(":memory:")
    result = await ingest([str(corpus / "example"), str(corpus / "other")], index)
    assert result.failed == []
    assert len(result.added) == 8
    return index


async def urls(index: LocalIndex, domains: DomainFilter | None, query: str = "kraken") -> set[str]:
    hits = await search_filtered(index, query, limit=20, domains=domains)
    return {hit.url for hit in hits}


async def test_ingest_reads_urls_titles_dates_and_text(index: LocalIndex, corpus: Path) -> None:
    hits = {hit.url: hit for hit in await index.search("kraken", limit=20)}
    notes_url = (corpus / "other/notes.txt").resolve().as_uri()
    assert set(hits) == {
        "https://example.com/",
        "https://docs.example.com/guide",
        "https://api.docs.example.com/v1",
        "https://example.com/blog/post-1",
        "https://example.com/blogger",
        "https://www.example.com/about",
        "https://other.org/news/today",
        notes_url,
    }
    guide = hits["https://docs.example.com/guide"]
    assert (guide.title, guide.page_age) == ("Docs guide", "2024-05-01")
    assert "kraken docs guide" in guide.text
    assert hits["https://example.com/blog/post-1"].title == "Blog post"
    assert hits["https://example.com/blog/post-1"].page_age == "2024-03-01"
    assert hits[notes_url].title == "Plain notes about the kraken"
    assert hits[notes_url].page_age is not None  # the file's modification day


async def test_script_and_style_are_not_indexed(index: LocalIndex) -> None:
    assert await index.search("javascript secret", limit=5) == []
    assert await index.search("color red", limit=5) == []


async def test_bm25_ranks_title_and_focused_pages_first(index: LocalIndex) -> None:
    hits = await index.search("api reference", limit=3)
    assert hits[0].url == "https://api.docs.example.com/v1"
    assert "reference" in hits[0].text


async def test_query_syntax_is_inert(index: LocalIndex) -> None:
    assert await index.search('kraken" OR NEAR( * AND -', limit=3)
    assert await index.search("!!!", limit=3) == []


async def test_bad_queries_raise_search_errors(index: LocalIndex) -> None:
    with pytest.raises(SearchError) as empty:
        await index.search("   ", limit=3)
    assert empty.value.code == "invalid_tool_input"
    with pytest.raises(SearchError) as long:
        await index.search("kraken " * 100, limit=3)
    assert long.value.code == "query_too_long"


async def test_allowed_domain_covers_subdomains(index: LocalIndex) -> None:
    assert await urls(index, DomainFilter(allowed=["example.com"])) == {
        "https://example.com/",
        "https://docs.example.com/guide",
        "https://api.docs.example.com/v1",
        "https://example.com/blog/post-1",
        "https://example.com/blogger",
        "https://www.example.com/about",
    }


async def test_allowed_named_subdomain_covers_only_itself(index: LocalIndex) -> None:
    assert await urls(index, DomainFilter(allowed=["docs.example.com"])) == {
        "https://docs.example.com/guide",
        "https://api.docs.example.com/v1",
    }
    assert await urls(index, DomainFilter(allowed=["www.example.com"])) == {
        "https://www.example.com/about"
    }


async def test_allowed_subpath(index: LocalIndex) -> None:
    assert await urls(index, DomainFilter(allowed=["example.com/blog", "other.org"])) == {
        "https://example.com/blog/post-1",
        "https://other.org/news/today",
    }


async def test_blocked_domain_and_subdomain(index: LocalIndex, corpus: Path) -> None:
    notes_url = (corpus / "other/notes.txt").resolve().as_uri()
    assert await urls(index, DomainFilter(blocked=["example.com"])) == {
        "https://other.org/news/today",
        notes_url,
    }
    assert await urls(index, DomainFilter(blocked=["docs.example.com", "other.org"])) == {
        "https://example.com/",
        "https://example.com/blog/post-1",
        "https://example.com/blogger",
        "https://www.example.com/about",
        notes_url,
    }


async def test_blocked_subpath_spares_lookalike_path(index: LocalIndex) -> None:
    remaining = await urls(index, DomainFilter(blocked=["example.com/blog"]))
    assert "https://example.com/blog/post-1" not in remaining
    assert "https://example.com/blogger" in remaining


async def test_filter_still_fills_the_limit(index: LocalIndex) -> None:
    # Only one page passes an allow-list; a block-list drops the best hits yet still fills `limit`.
    hits = await search_filtered(
        index, "kraken", limit=2, domains=DomainFilter(allowed=["other.org"]), location=None
    )
    assert [hit.url for hit in hits] == ["https://other.org/news/today"]
    hits = await search_filtered(
        index, "kraken", limit=2, domains=DomainFilter(blocked=["docs.example.com"])
    )
    assert len(hits) == 2
    assert all("docs.example.com" not in hit.url for hit in hits)


async def test_location_is_ignored(index: LocalIndex) -> None:
    location = UserLocation(country="NO", timezone="Europe/Oslo")
    assert await index.search("kraken", limit=3, location=location) == await index.search(
        "kraken", limit=3
    )


async def test_reingest_replaces_a_page(index: LocalIndex) -> None:
    index.add("https://example.com/", "Squid page", "squid only now", "2025-01-01")
    assert await urls(index, None, "squid") == {"https://example.com/"}
    assert "https://example.com/" not in await urls(index, None, "home")
    assert index.remove("https://example.com/")
    assert await urls(index, None, "squid") == set()


class FakeFetcher:
    def __init__(self, pages: dict[str, tuple[str, bytes]]) -> None:
        self.pages = pages

    async def fetch(self, url: str) -> tuple[str, bytes]:
        if url not in self.pages:
            raise OSError("connection refused")
        return self.pages[url]


async def test_ingest_urls_through_the_fetcher() -> None:
    index = LocalIndex.open(":memory:")
    fetcher = FakeFetcher(
        {
            # A fetched page is stored under its own URL, whatever canonical it claims.
            "https://news.example/a": (
                "text/html; charset=iso-8859-1",
                html_page("https://trusted.example/", "Caf\xe9 news", "fetched kraken").encode(
                    "latin-1"
                ),
            ),
            "https://notes.example/b.md": ("application/octet-stream", b"# Notes\n\nkraken notes"),
            "https://bin.example/c": ("image/png", b"\x89PNG"),
        }
    )
    result = await ingest(
        [
            "https://news.example/a",
            "https://notes.example/b.md",
            "https://bin.example/c",
            "https://down.example/",
        ],
        index,
        fetcher,
    )
    assert [(doc.url, doc.title) for doc in result.added] == [
        ("https://news.example/a", "Caf\xe9 news"),
        ("https://notes.example/b.md", "Notes"),
    ]
    reasons = {failure.target: failure.reason for failure in result.failed}
    assert "unsupported content type" in reasons["https://bin.example/c"]
    assert "connection refused" in reasons["https://down.example/"]
    assert await urls(index, DomainFilter(allowed=["trusted.example"])) == set()


async def test_ingest_without_fetcher_and_missing_paths(tmp_path: Path) -> None:
    index = LocalIndex.open(":memory:")
    (tmp_path / "data.csv").write_text("a,b")
    result = await ingest(
        ["https://x.example/", str(tmp_path / "nope"), str(tmp_path / "data.csv")], index
    )
    assert result.added == []
    assert [f.reason.split(";")[0] for f in result.failed] == [
        "fetching URLs needs a web fetcher",
        "no such file or directory",
        "unsupported file type",
    ]


def test_file_url_and_mtime_date_without_declared_ones(tmp_path: Path) -> None:
    page = tmp_path / "bare.html"
    page.write_text("<html><body><h1>Bare</h1><p>walrus</p></body></html>")
    os.utime(page, (86400 * 365, 86400 * 365))
    index = LocalIndex.open(str(tmp_path / "search.db"))
    import asyncio

    asyncio.run(ingest([str(page)], index))
    [hit] = index.query("walrus", limit=5)
    assert (hit.url, hit.title, hit.page_age) == (page.resolve().as_uri(), "Bare", "1971-01-01")


def test_index_persists_in_its_file(tmp_path: Path, corpus: Path) -> None:
    path = tmp_path / "search.db"
    settings = SearchSettings(index_path=str(path))
    assert run_ingest(settings, [str(corpus / "other")], out=open(os.devnull, "w")) == 0
    backend = make_backend(settings)
    assert isinstance(backend, LocalIndex)
    assert len(backend) == 2
    assert backend.query("kraken news", limit=1)[0].url == "https://other.org/news/today"


def test_run_ingest_reports_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = SearchSettings(index_path=str(tmp_path / "search.db"))
    (tmp_path / "a.txt").write_text("Walrus facts\nwalruses are large")
    assert run_ingest(settings, [str(tmp_path / "a.txt"), str(tmp_path / "missing")]) == 1
    out = capsys.readouterr().out
    assert "added   file://" in out
    assert "failed  " in out and "no such file or directory" in out
    assert "1 page(s) ingested, 1 failed; 1 in" in out


def test_open_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="directory does not exist"):
        LocalIndex.open(str(tmp_path / "nope" / "search.db"))
