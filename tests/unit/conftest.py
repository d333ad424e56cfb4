"""Fixtures of the store tests: a fake clock, and a database of each backend on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from polyrelay.storage import Database, open_database

__all__ = ["FakeClock", "clock", "database", "run_then_close"]


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database(database_url: str, clock: FakeClock) -> Iterator[Database]:
    """A fresh database of each backend (`database_url`), on `clock`."""
    opened = open_database(database_url, clock=clock)
    yield opened
    opened.close()


def run_then_close(threads: list[threading.Thread], opened: list[Database]) -> None:
    """Run `threads` (as processes sharing a database would), then close their databases."""
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for each in opened:
            each.close()
