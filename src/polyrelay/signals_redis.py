"""Signals across replicas through Redis: one pub/sub channel shared by every server
process (the outbox, the echoes and the reconnects: polyrelay.signals_remote)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import redis
import redis.asyncio as aioredis

from polyrelay.signals_remote import TIMEOUT_SECONDS, RemoteSignals

__all__ = ["CHANNEL", "RedisSignals", "publish_once"]

CHANNEL = "polyrelay:signals"


class RedisSignals(RemoteSignals):
    name = "redis"
    errors = (redis.RedisError, OSError)

    def __init__(self, url: str) -> None:
        super().__init__()
        # No read timeout (the listener waits for messages as long as it takes), but TCP
        # keep-alive, so a connection that died silently is noticed and replaced.
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=None, socket_keepalive=True
        )

    async def _publish(self, message: str) -> None:
        await self._client.publish(CHANNEL, message)

    async def _messages(self) -> AsyncIterator[str | None]:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            yield None
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield message["data"].decode(errors="replace")

    async def _close(self) -> None:
        await self._client.aclose()


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
