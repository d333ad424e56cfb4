"""Background loops that outlive an outage of the database or the network.

The server's long-running loops (the task worker's slots, its purge, the webhook sender)
make store calls that raise while PostgreSQL or PgBouncer restarts, or while another
process holds SQLite's lock. An exception that escaped such a loop would end its asyncio
task for good, and silently: the process would go on accepting tasks that nothing runs.
`keep_running` runs one step of a loop again and again; a step that raises is retried
after a backoff (polyrelay.backoff: doubling from 0.5 s to 5 s), so a loop catches up within
seconds of the database's return without hammering it meanwhile.

Only an exception that `database_unreachable` accepts is an outage: `Outage` logs its
first failure with its traceback, then one line once a store call succeeds again, and
nothing in between: a loop retrying every few seconds through an hour-long outage must not
flood the log. Anything else is a bug: logged with its traceback every time (the loop
still backs off, so a bug cannot spin the CPU), and `retry_until` does not retry it.
Cancellation (the server's shutdown) is never caught, even when a failing call replaced
the CancelledError while it was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, ParamSpec, TypeVar

from polyrelay.backoff import DELAYS, Backoff, Delays
from polyrelay.storage import StoreCall
from polyrelay.storage.unreachable import database_unreachable

__all__ = [
    "Outage",
    "cancelling",
    "keep_running",
    "retry_until",
    "stored_until",
]

T = TypeVar("T")
P = ParamSpec("P")


class Outage:
    """Whether the store calls of one or more loops are failing, for logging once per
    outage; `stopping` (set at shutdown) makes `retry_until` give up after one try."""

    def __init__(self, log: logging.Logger, what: str, delays: Delays = DELAYS) -> None:
        """`what` names the calls in the log lines ("task worker w_1: store calls")."""
        self._log = log
        self._what = what
        self.delays = delays
        self.stopping = False
        self._since: float | None = None
        self._failures = 0

    def failed(self, exc: BaseException) -> None:
        """A store call failed because the database is out of reach (or did not answer)."""
        self._failures += 1
        if self._since is None:
            self._since = time.monotonic()
            self._log.error(
                "%s failed; retrying with a backoff until they work again",
                self._what,
                exc_info=exc,
            )

    def note(self, exc: BaseException) -> bool:
        """`exc` ended a try: an outage (True), or a bug, logged with its traceback."""
        if database_unreachable(exc):
            self.failed(exc)
            return True
        self._log.error("%s: unexpected error", self._what, exc_info=exc)
        return False

    def recovered(self) -> None:
        """A store call succeeded (only then: a step ending is no proof the database is
        back, e.g. a run stopped because its lease could not be renewed)."""
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

    def watched(self, call: StoreCall) -> StoreCall:
        """`call`, ending the outage when a store call made through it succeeds."""

        async def watched(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
            result = await call(fn, *args, **kwargs)
            self.recovered()
            return result

        return watched


def cancelling() -> bool:
    """Whether the current task is being cancelled: an exception raised while its
    CancelledError was on its way (a failing hand-back at shutdown) must not be retried,
    or `stop` would wait for the loop forever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def keep_running(step: Callable[[], Awaitable[object]], outage: Outage) -> NoReturn:
    """`step()` forever; one that raises is retried after the backoff."""
    backoff = Backoff(outage.delays)
    while True:
        try:
            await step()
        except Exception as exc:
            if cancelling():
                raise
            outage.note(exc)
            await backoff.wait()
        else:
            backoff.reset()


async def retry_until(deadline: float, outage: Outage, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until it returns, retried with a backoff while the database is out of
    reach, the next try would start before `deadline` (time.monotonic()) and the loops
    are not stopping; else its last exception is raised. Any other exception is raised
    at once, not logged."""
    backoff = Backoff(outage.delays)
    while True:
        try:
            return await call()
        except Exception as exc:
            # A bug is raised at once, for the caller to log: retrying it would not help.
            if cancelling() or not database_unreachable(exc):
                raise
            outage.failed(exc)
            if outage.stopping or time.monotonic() + backoff.next >= deadline:
                raise
            await backoff.wait()


async def stored_until(
    deadline: float,
    outage: Outage,
    call: StoreCall,
    fn: Callable[P, T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """The store call `fn(*args, **kwargs)` through `call`, retried as `retry_until`."""
    return await retry_until(deadline, outage, lambda: call(fn, *args, **kwargs))
