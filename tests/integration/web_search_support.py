"""A gateway with a local search index, for the web search tests: pages the tests write on
several domains, subdomains and paths, ingested with `polyrelay search ingest`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import gateway_config

# url → (title, date, body). Every page mentions "relay" so one query finds them all.
PAGES: dict[str, tuple[str, str, str]] = {
    "https://docs.example.com/guide/intro": (
        "Polyrelay guide introduction",
        "2025-01-02",
        "The relay guide explains how to configure the gateway and its providers.",
    ),
    "https://example.com/blog/post-1": (
        "Example blog relay post",
        "2025-02-03",
        "A blog post about running a relay in front of several model providers.",
    ),
    "https://example.com/blogger/profile": (
        "Blogger profile page",
        "2025-03-04",
        "The blogger writes about relay races, not gateways.",
    ),
    "https://blog.example.com/news/launch": (
        "Launch news from the blog subdomain",
        "2025-04-05",
        "News: the relay launched with streaming support.",
    ),
    "https://other.org/relay": (
        "Other org relay notes",
        "2025-05-06",
        "Notes on the relay protocol from another organisation.",
    ),
    "https://sub.other.org/page": (
        "Subdomain page of other org",
        "2025-06-07",
        "A page on a subdomain mentioning the relay once.",
    ),
}


def _html(url: str, title: str, date: str, body: str) -> str:
    return f"""<!doctype html>
<html><head><title>{title}</title>
<link rel="canonical" href="{url}">
<meta name="date" content="{date}">
</head><body><h1>{title}</h1><p>{body}</p></body></html>
"""


def write_pages(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for number, (url, (title, date, body)) in enumerate(PAGES.items()):
        (directory / f"page-{number}.html").write_text(_html(url, title, date, body))


INGEST = [sys.executable, "-m", "polyrelay", "search", "ingest"]


@pytest.fixture(scope="module")
def search_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("search-gateway")
    write_pages(workdir / "pages")
    extra = f"search: {{backend: local, index_path: {workdir / 'search.db'}, max_results: 10}}\n"
    config = workdir / "polyrelay.yaml"
    config.write_text(gateway_config(emulator.url, workdir / "polyrelay.db", extra=extra))
    ingest = subprocess.run(
        [*INGEST, str(workdir / "pages"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    yield from serving_config(config)
