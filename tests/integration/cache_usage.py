"""A gateway whose usage rows the prompt-cache tests read (test_usage_prompt_cache.py,
test_usage_cache_1h_cost.py): a fresh key per test, and the key's rows once they are in."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import Gateway
from tests.integration.servers import new_key

__all__ = ["CACHE_COLUMNS", "UsageReader", "words"]

CACHE_COLUMNS = "input_tokens, cache_read_tokens, cache_write_tokens"


class UsageReader:
    def __init__(self, gateway: Gateway, db: Path) -> None:
        self.url = gateway.url
        self.db = db

    def new_key(self) -> tuple[str, str]:
        """A fresh key (id, secret), so each test reads only its own rows."""
        return new_key(self.db, "cache-test")

    def rows(
        self, key: tuple[str, str], count: int, columns: str = CACHE_COLUMNS
    ) -> list[tuple[Any, ...]]:
        """`columns` of the key's rows, oldest first, once `count` are in (GET /v1/usage
        commits the rows parked for writing)."""
        deadline = time.monotonic() + 5
        headers = {"authorization": f"Bearer {key[1]}"}
        while True:
            data = httpx.get(self.url + "/v1/usage", headers=headers).json()["data"]
            if sum(d["requests"] for d in data) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM usage WHERE key_id = ? ORDER BY created_at, rowid",
                (key[0],),
            ).fetchall()
        return [tuple(row) for row in rows]


def words(n: int) -> str:
    """`n` words opening with one of their own: the emulator's cache is per upstream key
    and model, which every test of the session shares."""
    return f"{time.monotonic_ns()} " + " ".join(f"w{i}" for i in range(n - 1))
