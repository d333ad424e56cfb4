"""The handler of `polyrelay search ingest PATH|URL...` (the argparse wiring is in
polyrelay.cli)."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import aiohttp

from polyrelay.search.ingest import Fetcher, IngestResult, ingest
from polyrelay.search.local_index import LocalIndex
from polyrelay.search.settings import SearchSettings

__all__ = ["SimpleFetcher", "run_ingest"]

_MAX_PAGE_BYTES = 10 * 1024 * 1024


class SimpleFetcher:
    """A plain GET for admin-given URLs: timeout, redirects, a size cap. Pass the gateway's
    hardened fetcher instead wherever URLs come from untrusted input."""

    def __init__(self, timeout: float = 30.0, max_bytes: int = _MAX_PAGE_BYTES) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes

    async def fetch(self, url: str) -> tuple[str, bytes]:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.get(url) as response,
        ):
            if response.status >= 300:
                raise ValueError(f"HTTP {response.status}")
            body = await response.content.read(self._max_bytes + 1)
            if len(body) > self._max_bytes:
                raise ValueError(f"page larger than {self._max_bytes} bytes")
            return response.headers.get("Content-Type", ""), body


def run_ingest(
    settings_search: SearchSettings,
    targets: list[str],
    *,
    fetcher: Fetcher | None = None,
    out: TextIO | None = None,
) -> int:
    """Ingest `targets` into the configured local index; print one line per page and per
    failure. Exit status 0 when every target was ingested, 1 otherwise."""
    stream = out or sys.stdout
    try:
        index = LocalIndex.open(settings_search.index_path)
    except ValueError as exc:
        stream.write(f"error: search.index_path: {exc}\n")
        return 1
    try:
        result = asyncio.run(ingest(targets, index, fetcher or SimpleFetcher()))
        total = len(index)
    finally:
        index.close()
    _report(result, total, settings_search.index_path, stream)
    return 1 if result.failed else 0


def _report(result: IngestResult, total: int, path: str, out: TextIO) -> None:
    for doc in result.added:
        out.write(f"added   {doc.url}  {doc.title}\n")
    for failure in result.failed:
        out.write(f"failed  {failure.target}: {failure.reason}\n")
    out.write(
        f"{len(result.added)} page(s) ingested, {len(result.failed)} failed; {total} in {path}\n"
    )
