"""GroupCommit's timing: a lone row waits only the gather; a busy store's commits start at
least `interval_seconds` apart."""

from __future__ import annotations

import threading
import time

from polyrelay.storage.group_commit import GroupCommit


class _Parked:
    """A store stand-in: rows parked under the writer's lock, flush times recorded."""

    def __init__(self, gather: float, interval: float) -> None:
        self.rows: list[int] = []
        self.flushes: list[tuple[float, list[int]]] = []
        self.flushed = threading.Event()
        self.commit = GroupCommit(
            "test-writer",
            gather,
            interval_seconds=interval,
            pending_count=lambda: len(self.rows),
            flush=self._flush,
            discard=self.rows.clear,
            closed_errors=(),
        )

    def put(self, row: int) -> float:
        with self.commit.lock:
            self.rows.append(row)
            self.commit.wake()
        return time.monotonic()

    def _flush(self) -> None:
        with self.commit.lock:
            batch, self.rows[:] = list(self.rows), []
        self.flushes.append((time.monotonic(), batch))
        self.flushed.set()

    def wait_flush(self) -> tuple[float, list[int]]:
        assert self.flushed.wait(5)
        self.flushed.clear()
        return self.flushes[-1]


def test_a_lone_row_waits_the_gather_not_the_interval() -> None:
    store = _Parked(gather=0.01, interval=2.0)
    put_at = store.put(1)
    flushed_at, batch = store.wait_flush()
    assert batch == [1]
    assert 0.005 <= flushed_at - put_at < 1.0  # the gather, measured from after the put


def test_a_busy_stores_commits_start_an_interval_apart() -> None:
    store = _Parked(gather=0.01, interval=0.3)
    store.put(1)
    first_at, first = store.wait_flush()
    assert first == [1]
    for row in range(2, 12):  # rows keep coming right after a commit
        store.put(row)
        time.sleep(0.005)
    second_at, second = store.wait_flush()
    assert second == list(range(2, 12))  # one batch, not one per gather
    assert second_at - first_at >= 0.29  # the interval runs from the start of the first
    time.sleep(0.4)  # quiet for longer than the interval: back to the gather alone
    put_at = store.put(12)
    third_at, third = store.wait_flush()
    assert third == [12] and third_at - put_at < 0.2


def test_without_an_interval_each_gather_commits() -> None:
    store = _Parked(gather=0.01, interval=0.0)
    for row in (1, 2):
        put_at = store.put(row)
        flushed_at, batch = store.wait_flush()
        assert batch == [row] and flushed_at - put_at < 1.0
