"""Signals across replicas: one Redis pub/sub channel shared by every server process.

Each process publishes its signals on `CHANNEL` (tagged with its own origin, so it skips
its own echoes) and listens there for the others'. Publishing never blocks a request: a
signal goes into a bounded outbox that one task sends in order. When Redis is down, signals
are dropped (waiters poll the database, so they are late, not lost) and the listener
reconnects with a growing pause, logging once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import redis
import redis.asyncio as aioredis

from polyrelay.signals import Signals

__all__ = ["CHANNEL", "RedisSignals", "publish_once"]

log = logging.getLogger("polyrelay.signals")

CHANNEL = "polyrelay:signals"
_OUTBOX = 10_000
_TIMEOUT_SECONDS = 5.0
_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


class RedisSignals(Signals):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._origin = secrets.token_hex(8)
        # No read timeout (the listener waits for messages as long as it takes), but TCP
        # keep-alive, so a connection that died silently is noticed and replaced.
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=_TIMEOUT_SECONDS, socket_timeout=None, socket_keepalive=True
        )
        self._outbox: asyncio.Queue[str] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._first_try = asyncio.Event()
        """Set once the listener has subscribed or failed to, the first time."""

    def broadcast(self, topic: str, payload: str) -> None:
        if self._outbox is None or self._outbox.full():
            return  # not started, or Redis is behind: waiters poll instead
        self._outbox.put_nowait(f"{self._origin} {topic} {payload}")

    async def start(self) -> None:
        self._outbox = asyncio.Queue(_OUTBOX)
        self._loops = [asyncio.create_task(self._send()), asyncio.create_task(self._listen())]
        # Wait for the first subscription, so signals sent right after start-up arrive; a
        # Redis that refuses does not hold the server back, one that does not answer at
        # most the connect timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_TIMEOUT_SECONDS):
                await self._first_try.wait()

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await self._client.aclose()

    async def _send(self) -> None:
        assert self._outbox is not None
        failing = False
        while True:
            message = await self._outbox.get()
            try:
                async with asyncio.timeout(_TIMEOUT_SECONDS):
                    await self._client.publish(CHANNEL, message)
                failing = False
            except (redis.RedisError, OSError, TimeoutError) as exc:
                if not failing:
                    log.warning("redis: cannot publish signals (%s); replicas poll meanwhile", exc)
                failing = True

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    if attempt:
                        log.info("redis: receiving signals again")
                    attempt = 0
                    self._first_try.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._receive(message["data"])
            except (redis.RedisError, OSError) as exc:
                self._first_try.set()
                if attempt == 0:
                    log.warning("redis: signals lost (%s); reconnecting", exc)
                pause = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)]
                attempt += 1
                await asyncio.sleep(pause)

    def _receive(self, data: bytes) -> None:
        origin, _, rest = data.decode(errors="replace").partition(" ")
        if origin == self._origin:
            return
        topic, _, payload = rest.partition(" ")
        self.deliver(topic, payload)


def publish_once(url: str, topic: str, payload: str = "") -> bool:
    """Send one signal from a short-lived process (the CLI); False when Redis could not
    be reached (the replicas then see the change within their polling or cache time)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.publish(CHANNEL, f"cli-{secrets.token_hex(4)} {topic} {payload}")
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()
    return True
