"""Background loops that outlive an outage of the database or the network.

The server's long-running loops (the task worker's slots, its purge, the webhook sender)
make store calls that raise while PostgreSQL or PgBouncer restarts, or while another
process holds SQLite's lock. An exception that escaped such a loop would end its asyncio
task for good, and silently: the process would go on accepting tasks that nothing runs.
`keep_running` runs one step of a loop again and again; a step that raises is retried
after a backoff that doubles from `FIRST_DELAY` to `MAX_DELAY`, so a loop catches up
within seconds of the database's return without hammering it meanwhile.

`Outage` logs the first failure of an outage with its traceback, then one line when a
call succeeds again, and nothing in between: a loop retrying every few seconds through an
hour-long outage must not flood the log. Cancellation (the server's shutdown) is never
caught, even when a failing call replaced the CancelledError while it was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

__all__ = [
    "FIRST_DELAY",
    "MAX_DELAY",
    "Backoff",
    "Outage",
    "cancelling",
    "keep_running",
    "retry_until",
]

T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class Outage:
    """Whether the calls of one or more loops are failing, for logging once per outage."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        """`what` names the calls in the log lines ("task worker w_1: store calls")."""
        self._log = log
        self._what = what
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        self._failures += 1
        if self._since is None:
            self._since = time.monotonic()
            self._log.error(
                "%s failed; retrying with a backoff until they work again",
                self._what,
                exc_info=exc,
            )

    def recovered(self) -> None:
        if self._since is None:
            return
        self._log.warning(
            "%s work again after %d failures in %.1fs",
            self._what,
            self._failures,
            time.monotonic() - self._since,
        )
        self._since = None
        self._failures = 0


class Backoff:
    """Pauses between retries: `first` seconds, doubling up to `most`."""

    def __init__(self, first: float | None = None, most: float | None = None) -> None:
        """`FIRST_DELAY` and `MAX_DELAY` by default, read now (tests shorten them)."""
        self._first = FIRST_DELAY if first is None else first
        self._most = MAX_DELAY if most is None else most
        self.next = self._first
        """The pause `wait` makes next."""

    def reset(self) -> None:
        self.next = self._first

    def take(self) -> float:
        """The next pause, doubling the one after it."""
        pause, self.next = self.next, min(self.next * 2, self._most)
        return pause

    async def wait(self) -> None:
        await asyncio.sleep(self.take())


def cancelling() -> bool:
    """Whether the current task is being cancelled: an exception raised while its
    CancelledError was on its way (a failing hand-back at shutdown) must not be retried,
    or `stop` would wait for the loop forever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def keep_running(
    step: Callable[[], Awaitable[object]], outage: Outage, backoff: Backoff | None = None
) -> NoReturn:
    """`step()` forever; one that raises is retried after the backoff."""
    backoff = Backoff() if backoff is None else backoff
    while True:
        try:
            await step()
        except Exception as exc:
            if cancelling():
                raise
            outage.failed(exc)
            await backoff.wait()
        else:
            outage.recovered()
            backoff.reset()


async def retry_until(deadline: float, outage: Outage, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until it returns, retried with a backoff while the next try would start
    before `deadline` (time.monotonic()); then its last exception is raised."""
    backoff = Backoff()
    while True:
        try:
            result = await call()
        except Exception as exc:
            if cancelling():
                raise
            outage.failed(exc)
            if time.monotonic() + backoff.next >= deadline:
                raise
            await backoff.wait()
        else:
            outage.recovered()
            return result
