"""Markup stripped from search snippets and ingested Markdown: what it removes, and that no
input makes it quadratic (the regexes used to scan to the end from every `<` or `[`)."""

from __future__ import annotations

import time

import pytest

from polyrelay.search.backends import plain_text
from polyrelay.search.documents import parse_document


def markdown_text(body: str) -> str:
    return parse_document(
        body, "markdown", url="https://x.test/", title="", date=None, trust_url=False
    ).text


def test_snippet_tags_and_entities_go() -> None:
    assert plain_text("The <strong>gateway</strong> &amp; its\n <em>tests</em>") == (
        "The gateway & its tests"
    )
    assert plain_text("a < b, <<c>") == "a < b, <"  # a `<` with no `>` after it stays


def test_markdown_links_and_images_become_their_text() -> None:
    body = "See [the docs](https://x.test/a_b?c=1) and ![a chart](c.png); [no link] stays."
    assert markdown_text(body) == "See the docs and a chart; [no link] stays."


@pytest.mark.parametrize(
    ("strip", "text"),
    [
        (plain_text, "<" * 200_000),
        (plain_text, "<a" * 100_000),
        (markdown_text, "[" * 200_000),
        (markdown_text, "[](" * 70_000),
        (markdown_text, "[a](x(" * 40_000),
    ],
)
def test_no_input_is_quadratic(strip: object, text: str) -> None:
    assert callable(strip)
    started = time.process_time()
    strip(text)
    assert time.process_time() - started < 1  # quadratic: minutes
