"""Signals between server processes through a shared channel: the common part of Redis
pub/sub (polyrelay.signals_redis) and PostgreSQL LISTEN/NOTIFY (polyrelay.signals_postgres).

Each process publishes its signals on the channel, tagged with its own origin so that it
skips its own echoes, and listens there for the others'. Publishing never blocks a
request: a signal goes into a bounded outbox that one task sends in order. When the
channel's server is down, signals are dropped (waiters poll the database, so they are
late, not lost) and the listener reconnects with a growing pause, logging once per outage.
A server that refuses the login or the listening command (`refused`: a rotated password,
a user without rights) is a configuration error: logged as an error once per outage, and
retried with a pause growing to REFUSED_DELAYS.most, until it is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from polyrelay.backoff import Backoff, Delays
from polyrelay.signals import Signals

__all__ = ["RemoteSignals"]

log = logging.getLogger("polyrelay.signals")

_OUTBOX = 10_000
TIMEOUT_SECONDS = 5.0
_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
REFUSED_DELAYS = Delays(first=1.0, most=60.0)
"""The pauses between the logins a server refuses."""


class ChannelClosed(Exception):
    """The listening connection ended without an error."""


class RemoteSignals(Signals):
    name = ""
    """The channel's server, in log lines: "redis", "postgresql"."""
    errors: tuple[type[BaseException], ...] = (OSError,)
    """What a lost or refused connection raises."""
    refused: tuple[type[BaseException], ...] = ()
    """What a refused login or command raises (of `errors`): a configuration error."""
    refused_delays = REFUSED_DELAYS
    first_try_seconds = TIMEOUT_SECONDS
    """How long `start` waits for the first subscription, at most."""

    def __init__(self) -> None:
        super().__init__()
        self._origin = secrets.token_hex(8)
        self._outbox: asyncio.Queue[str] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._first_try = asyncio.Event()
        """Set once the listener has subscribed or failed to, the first time."""

    async def _publish(self, message: str) -> None:
        """Send one message on the channel."""
        raise NotImplementedError

    def _messages(self) -> AsyncIterator[str | None]:
        """Subscribe, yield None once subscribed, then each message on the channel."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Close the connections the subclass holds."""

    def describe_refusal(self, exc: BaseException) -> str:
        """One line on a refusal (an exception of `refused`), without secrets."""
        return str(exc)

    def broadcast(self, topic: str, payload: str) -> None:
        if self._outbox is None or self._outbox.full():
            return  # not started, or the channel is behind: waiters poll instead
        self._outbox.put_nowait(f"{self._origin} {topic} {payload}")

    async def start(self) -> None:
        self._outbox = asyncio.Queue(_OUTBOX)
        self._loops = [asyncio.create_task(self._send()), asyncio.create_task(self._listen())]
        # Wait for the first subscription, so signals sent right after start-up arrive; a
        # server that refuses does not hold the gateway back, one that does not answer at
        # most first_try_seconds.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.first_try_seconds):
                await self._first_try.wait()

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await self._close()

    async def _send(self) -> None:
        assert self._outbox is not None
        failing = False
        caught: tuple[type[BaseException], ...] = (*self.errors, TimeoutError)
        while True:
            message = await self._outbox.get()
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    await self._publish(message)
                failing = False
            except Exception as exc:  # any: a dead sender would drop every later signal
                if not failing:
                    log.warning(
                        "%s: cannot publish signals (%s); replicas poll meanwhile",
                        self.name,
                        exc,
                        exc_info=not isinstance(exc, caught),  # unforeseen: its traceback
                    )
                failing = True

    async def _listen(self) -> None:
        attempt = 0
        refusals = Backoff(self.refused_delays)
        logged: set[bool] = set()
        """This outage's kinds logged so far: refused (True), lost (False)."""
        caught: tuple[type[BaseException], ...] = (*self.errors, ChannelClosed)
        while True:
            try:
                async for message in self._messages():
                    if message is not None:
                        self._receive(message)
                        continue
                    if logged:
                        log.info("%s: receiving signals again", self.name)
                    attempt = 0
                    refusals.reset()
                    logged.clear()
                    self._first_try.set()
                raise ChannelClosed("the connection closed")
            except Exception as exc:  # any: a dead listener would never hear a signal again
                self._first_try.set()
                refused = isinstance(exc, self.refused)
                if refused and refused not in logged:
                    log.error(
                        "%s: signals lost: %s; retrying with a pause growing to %g s",
                        self.name,
                        self.describe_refusal(exc),
                        self.refused_delays.most,
                    )
                elif refused not in logged:
                    log.warning(
                        "%s: signals lost (%s); reconnecting",
                        self.name,
                        exc,
                        exc_info=not isinstance(exc, caught),  # unforeseen: its traceback
                    )
                logged.add(refused)
                if refused:
                    pause = refusals.take()
                else:
                    pause = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)]
                    attempt += 1
                await asyncio.sleep(pause)

    def _receive(self, message: str) -> None:
        origin, _, rest = message.partition(" ")
        if origin == self._origin:
            return
        topic, _, payload = rest.partition(" ")
        self.deliver(topic, payload)
