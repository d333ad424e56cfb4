"""The embedded, offline search backend: a SQLite FTS5 full-text index of ingested pages.

Pages live in `pages` (one row per URL; adding a URL again replaces it) and are indexed by
the external-content FTS5 table `pages_fts`, kept in step by triggers. A query is split into
words, each quoted (so FTS5 operators in user text are inert) and OR-ed; bm25 ranks the
matches, a title hit weighing more than a body hit, and `snippet()` cuts the text shown.
The index is its own file (`search.db` by default) so re-ingesting never touches the
gateway's database; `:memory:` gives a private in-memory index.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

from polyrelay.ir.tools import UserLocation
from polyrelay.search.backends import SearchError, SearchHit, check_query

__all__ = ["LocalIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    date TEXT
);
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(
    title, body, content='pages', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS pages_ai AFTER INSERT ON pages BEGIN
    INSERT INTO pages_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER IF NOT EXISTS pages_ad AFTER DELETE ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, body)
    VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER IF NOT EXISTS pages_au AFTER UPDATE ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, body)
    VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO pages_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
"""
_UPSERT = """
INSERT INTO pages (url, title, body, date) VALUES (?, ?, ?, ?)
ON CONFLICT(url) DO UPDATE SET title = excluded.title, body = excluded.body, date = excluded.date
"""
# bm25 weights: title, body. snippet(): body column, no highlight marks, 32 tokens.
_QUERY = """
SELECT pages.url, pages.title, snippet(pages_fts, 1, '', '', '…', 32), pages.date
FROM pages_fts JOIN pages ON pages.id = pages_fts.rowid
WHERE pages_fts MATCH ?
ORDER BY bm25(pages_fts, 5.0, 1.0)
LIMIT ?
"""
_WORD = re.compile(r"\w+")
_MAX_TERMS = 32
_BUSY_TIMEOUT_MS = 5000


class LocalIndex:
    """A SQLite FTS5 page index; a `SearchBackend`. Thread-safe: one connection behind a lock,
    queries run in a worker thread so a large index never stalls the event loop."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str) -> LocalIndex:
        """Open (creating if needed) the index at `path`: a file path, `sqlite:///path`, or
        `:memory:`. ValueError when the parent directory is missing or FTS5 is unavailable."""
        path = path.removeprefix("sqlite:///")
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise ValueError(f"cannot create the search index {path}: its directory does not exist")
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            conn.close()
            raise ValueError(f"cannot open the search index {path}: {exc}") from exc
        return cls(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(self, url: str, title: str, text: str, date: str | None = None) -> None:
        """Index a page; a page already stored under `url` is replaced."""
        with self._lock:
            self._conn.execute(_UPSERT, (url, title, text, date))

    def remove(self, url: str) -> bool:
        with self._lock:
            return self._conn.execute("DELETE FROM pages WHERE url = ?", (url,)).rowcount > 0

    def __len__(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM pages").fetchone()
        return int(row[0])

    def query(self, query: str, *, limit: int) -> list[SearchHit]:
        """The synchronous search: the best `limit` pages for `query`'s words."""
        match = _match_expression(check_query(query))
        if match is None or limit < 1:
            return []
        try:
            with self._lock:
                rows = self._conn.execute(_QUERY, (match, limit)).fetchall()
        except sqlite3.Error as exc:
            raise SearchError("unavailable", f"the local search index failed: {exc}") from exc
        return [SearchHit(url=r[0], title=r[1], text=r[2], page_age=r[3]) for r in rows]

    async def search(
        self, query: str, *, limit: int, location: UserLocation | None = None
    ) -> list[SearchHit]:
        # A local corpus has no notion of where the user is; `location` is ignored.
        del location
        return await asyncio.to_thread(self.query, query, limit=limit)


def _match_expression(query: str) -> str | None:
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))[:_MAX_TERMS]
    if not words:
        return None
    return " OR ".join(f'"{word}"' for word in words)
