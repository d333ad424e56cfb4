"""`polyrelay search ingest PATH|URL...`: fill the local index from files, directories and
web pages.

Directories are walked recursively (hidden entries skipped) for `.html`/`.htm`/`.xhtml`,
`.md`/`.markdown` and `.txt` files; a file named explicitly must have one of those suffixes.
A file's URL is the one it declares (`<link rel="canonical">`, front-matter `url:`), else its
`file://` URI; its date is the declared one, else its modification day (UTC). An http(s)
target is fetched through the injected `Fetcher` and stored under the URL asked for: a page
naming another canonical URL must not be able to file itself under a domain it does not
come from, which would defeat the domain filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import msgspec

from polyrelay.search.documents import Document, DocumentKind, parse_document
from polyrelay.search.local_index import LocalIndex

__all__ = ["Fetcher", "IngestFailure", "IngestResult", "ingest"]

_KIND_BY_SUFFIX: dict[str, DocumentKind] = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
_KIND_BY_TYPE: dict[str, DocumentKind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
}


class Fetcher(Protocol):
    async def fetch(self, url: str) -> tuple[str, bytes]:
        """The page's Content-Type header value and body. Raises on any failure."""
        ...


class IngestFailure(msgspec.Struct, frozen=True):
    target: str
    reason: str


class IngestResult(msgspec.Struct, kw_only=True):
    added: list[Document] = msgspec.field(default_factory=list)
    failed: list[IngestFailure] = msgspec.field(default_factory=list)


async def ingest(
    targets: Iterable[str], index: LocalIndex, fetcher: Fetcher | None = None
) -> IngestResult:
    """Index every target; one failing target is recorded and the rest still ingested."""
    result = IngestResult()
    for target in targets:
        if target.lower().startswith(("http://", "https://")):
            await _ingest_url(target, index, fetcher, result)
        else:
            _ingest_path(Path(target), index, result)
    return result


def _ingest_path(path: Path, index: LocalIndex, result: IngestResult) -> None:
    try:
        _ingest_local(path, index, result)
    except OSError as exc:  # is_dir() and is_file() raise for a name too long, say
        result.failed.append(IngestFailure(str(path), exc.strerror or str(exc)))


def _ingest_local(path: Path, index: LocalIndex, result: IngestResult) -> None:
    if path.is_dir():
        for file in _walk(path):
            _ingest_file(file, _KIND_BY_SUFFIX[file.suffix.lower()], index, result)
    elif not path.is_file():
        result.failed.append(IngestFailure(str(path), "no such file or directory"))
    elif (kind := _KIND_BY_SUFFIX.get(path.suffix.lower())) is None:
        reason = f"unsupported file type; expected one of {', '.join(_KIND_BY_SUFFIX)}"
        result.failed.append(IngestFailure(str(path), reason))
    else:
        _ingest_file(path, kind, index, result)


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if not hidden and path.is_file() and path.suffix.lower() in _KIND_BY_SUFFIX:
            yield path


def _ingest_file(path: Path, kind: DocumentKind, index: LocalIndex, result: IngestResult) -> None:
    try:
        raw = path.read_bytes()
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date().isoformat()
    except OSError as exc:
        result.failed.append(IngestFailure(str(path), exc.strerror or str(exc)))
        return
    doc = parse_document(
        _decode(raw, "utf-8"),
        kind,
        url=path.resolve().as_uri(),
        title=path.stem,
        date=modified,
        trust_url=True,
    )
    _store(doc, str(path), index, result)


async def _ingest_url(
    url: str, index: LocalIndex, fetcher: Fetcher | None, result: IngestResult
) -> None:
    if fetcher is None:
        result.failed.append(IngestFailure(url, "fetching URLs needs a web fetcher; none given"))
        return
    try:
        content_type, body = await fetcher.fetch(url)
    # The fetcher is pluggable and its error types are its own; any failure skips the URL.
    except Exception as exc:
        result.failed.append(IngestFailure(url, f"fetch failed: {exc}"))
        return
    media_type, charset = _media_type(content_type)
    kind = _KIND_BY_TYPE.get(media_type) or _KIND_BY_SUFFIX.get(Path(url.split("?")[0]).suffix)
    if kind is None:
        result.failed.append(IngestFailure(url, f"unsupported content type {media_type!r}"))
        return
    text = _decode(body, charset)
    doc = parse_document(text, kind, url=url, title=url, date=None, trust_url=False)
    _store(doc, url, index, result)


def _store(doc: Document, target: str, index: LocalIndex, result: IngestResult) -> None:
    if not doc.text and not doc.title:
        result.failed.append(IngestFailure(target, "no text to index"))
        return
    index.add(doc.url, doc.title, doc.text, doc.date)
    result.added.append(doc)


def _media_type(content_type: str) -> tuple[str, str]:
    media_type, _, params = content_type.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return media_type.strip().lower(), charset


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")
