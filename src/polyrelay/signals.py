"""Signals: wake-ups between the parts of a server, and between replicas through Redis.

A signal is a topic and a short payload (an id): "events were recorded for response X",
"a task was queued", "task Y ended", "task Y was cancelled", "keys changed". The database
holds the truth; a signal only tells a waiter to look at it now. So nothing depends on a
signal arriving: every waiter also polls (at most a fraction of a second late without
one), and a lost signal costs latency, never data. With `redis:` set
(polyrelay.signals_redis) they reach every replica and worker process on the same Redis;
else, on PostgreSQL, every one on the same database schema (polyrelay.signals_postgres);
else (SQLite without Redis) the handlers of this process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

__all__ = [
    "KEYS_CHANGED",
    "RESPONSE_EVENTS",
    "TASK_CANCELLED",
    "TASK_ENDED",
    "TASK_QUEUED",
    "Signals",
    "Wakeups",
    "redis_address",
]

log = logging.getLogger("polyrelay.signals")

RESPONSE_EVENTS = "response-events"
"""Payload: a background response's id; its run recorded events (or ended)."""
TASK_QUEUED = "task-queued"
"""A task is claimable (new, or back to pending for a retry)."""
TASK_ENDED = "task-ended"
"""Payload: the id of a task that reached a final status."""
TASK_CANCELLED = "task-cancelled"
"""Payload: the id of a task cancelled by a client; its run, wherever it is, stops."""
KEYS_CHANGED = "keys-changed"
"""A key was revoked: cached key lookups are dropped."""

Handler = Callable[[str], object]


def redis_address(url: str) -> str:
    """scheme://host:port of a Redis URL, without its credentials."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1].split('/', 1)[0]}"


class Signals:
    """This process's signals. `publish` runs the handlers at once, on the caller's
    thread (the event loop's); subclasses also broadcast to other processes."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def publish(self, topic: str, payload: str = "") -> None:
        self.deliver(topic, payload)
        self.broadcast(topic, payload)

    def deliver(self, topic: str, payload: str) -> None:
        """Run this process's handlers of `topic`; a failing handler is logged, not raised
        (the publisher's work is done, and the other handlers still run)."""
        for handler in self._handlers.get(topic, ()):
            try:
                handler(payload)
            except Exception:
                log.exception("signal %s %s: a handler failed", topic, payload)

    def broadcast(self, topic: str, payload: str) -> None:
        """Send the signal to the other processes; nothing to do here."""

    async def start(self) -> None:
        """Begin receiving other processes' signals."""

    async def stop(self) -> None: ...


class Wakeups:
    """The waiters of one topic, by id: a waiter's asyncio.Event is set when the topic is
    signalled with its id (from this process or, with Redis, from another)."""

    def __init__(self, signals: Signals | None = None, topic: str = "wakeup") -> None:
        self._signals = signals if signals is not None else Signals()
        self._topic = topic
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._signals.on(topic, self._wake)

    def notify(self, key: str) -> None:
        self._signals.publish(self._topic, key)

    def _wake(self, key: str) -> None:
        for event in self._waiters.get(key, ()):
            event.set()

    @contextlib.contextmanager
    def subscription(self, key: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[key]
