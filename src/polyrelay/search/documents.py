"""Turning ingested files and fetched pages into `Document`s (url, title, text, date).

HTML goes through the stdlib `html.parser`: text outside script/style/template/noscript/svg,
block elements as line breaks, the title from `<title>` (else the first `<h1>`), the date
from `<meta name="date">` or `article:published_time`, the canonical URL from
`<link rel="canonical">`. Markdown: an optional `---` front-matter block (`url:`, `title:`,
`date:` lines), the title from the first `# ` heading, link and emphasis syntax dropped.
Plain text: the first non-empty line is the title. The caller supplies the fallback URL,
title and date, since only it knows whether the source is a file or a fetched page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Literal, assert_never

import msgspec

__all__ = ["Document", "DocumentKind", "parse_document"]

DocumentKind = Literal["html", "markdown", "text"]

_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
        "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_DATE_META = frozenset({"date", "dc.date", "article:published_time", "datepublished"})
# No brackets inside the text or the target, no parentheses in the target: every failed
# attempt then stops at the next bracket instead of scanning to the end of the document
# (quadratic in `[[[…` or `[](](…`). Nested brackets never matched anyway.
_MD_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()\[\]]*\)")
_MD_MARKS = re.compile(r"(^|\s)[*_`~]+|[*_`~]+(?=\s|$|[.,;:!?])")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_FRONT_KEY = re.compile(r"^([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_BLANKS = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


class Document(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    title: str
    text: str
    date: str | None = None


def parse_document(
    text: str, kind: DocumentKind, *, url: str, title: str, date: str | None, trust_url: bool
) -> Document:
    """Parse `text`; `url`/`title`/`date` fill what the content does not say. A URL named by
    the content (canonical link, front matter) replaces `url` only when `trust_url`."""
    match kind:
        case "html":
            doc = _parse_html(text)
        case "markdown":
            doc = _parse_markdown(text)
        case "text":
            doc = _parse_text(text)
        case _:
            assert_never(kind)
    return Document(
        url=doc.url if trust_url and doc.url else url,
        title=doc.title or title,
        text=doc.text,
        date=doc.date or date,
    )


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
        self.canonical = ""
        self.date = ""
        self._skip: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "meta":
            self._meta(values)
        elif tag == "link" and "canonical" in values.get("rel", "").lower().split():
            self.canonical = self.canonical or values.get("href", "").strip()
        if tag in ("title", "h1") and self._in is None:
            self._in = tag
        if tag in _SKIPPED:
            self._skip.append(tag)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()
        if tag == self._in:
            self._in = None
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in == "title" and not self.title_done:
            self.title.append(data)
        elif self._in == "h1" and not self.heading_done:
            self.heading.append(data)
        if not self._skip and self._in != "title":
            self.parts.append(data)

    @property
    def title_done(self) -> bool:
        return bool(self.title) and self._in != "title"

    @property
    def heading_done(self) -> bool:
        return bool(self.heading) and self._in != "h1"

    def _meta(self, values: dict[str, str]) -> None:
        key = (values.get("name") or values.get("property") or values.get("itemprop") or "").lower()
        if key in _DATE_META and not self.date:
            self.date = values.get("content", "").strip()


def _parse_html(text: str) -> Document:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    title = _one_line("".join(parser.title)) or _one_line("".join(parser.heading))
    return Document(
        url=parser.canonical,
        title=title,
        text=_tidy("".join(parser.parts)),
        date=parser.date or None,
    )


def _parse_markdown(text: str) -> Document:
    meta, body = _front_matter(text)
    heading = next((line[2:] for line in body.splitlines() if line.startswith("# ")), "")
    plain = _MD_MARKS.sub(r"\1", _MD_HEADING.sub("", _MD_LINK.sub(r"\1", body)))
    return Document(
        url=meta.get("url", ""),
        title=_one_line(meta.get("title", "") or heading),
        text=_tidy(plain),
        date=meta.get("date") or None,
    )


def _parse_text(text: str) -> Document:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return Document(url="", title=_one_line(first), text=_tidy(text))


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            meta: dict[str, str] = {}
            for entry in lines[1:end]:
                found = _FRONT_KEY.match(entry)
                if found:
                    meta[found.group(1).lower()] = found.group(2).strip("\"'")
            return meta, "\n".join(lines[end + 1 :])
    return {}, text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
