"""Signals across replicas through Redis: one pub/sub channel shared by every server
process (the outbox, the echoes and the reconnects: polyrelay.signals_remote).

A Redis that refuses the login (a wrong password, none where one is asked for, an unknown
user) or the commands the signals run (an ACL user without PUBLISH or SUBSCRIBE on the
channel) is a configuration error, not an outage: `polyrelay serve` and `polyrelay check`
stop on it at start-up (`check_login`, exit 2), and a refusal after start-up (a rotated
password) is logged as an error once and retried with a pause growing to a minute. An
unreachable Redis is an outage: the server starts, and the replicas poll meanwhile.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis

from polyrelay.errors import first_line
from polyrelay.settings import ConfigError
from polyrelay.signals import redis_address
from polyrelay.signals_remote import TIMEOUT_SECONDS, RemoteSignals

__all__ = [
    "CHANNEL",
    "LOGIN_SECONDS",
    "REFUSED",
    "RedisSignals",
    "check_login",
    "publish_once",
    "refusal",
]

CHANNEL = "polyrelay:signals"
REFUSED: tuple[type[BaseException], ...] = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.AuthenticationWrongNumberOfArgsError,
    redis.exceptions.NoPermissionError,
)
"""What a Redis that refuses the login or a command raises: configuration errors."""

LOGIN_SECONDS = 1.0
"""How long start-up waits for Redis, at most: the whole login check (`check_login`), and
then the first subscription. A Redis that accepts connections and never answers is an
outage, which the server rides out; it must not hold start-up back."""


class RedisSignals(RemoteSignals):
    name = "redis"
    errors = (redis.RedisError, OSError)
    refused = REFUSED
    first_try_seconds = LOGIN_SECONDS

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        # No read timeout (the listener waits for messages as long as it takes), but TCP
        # keep-alive, so a connection that died silently is noticed and replaced.
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=None, socket_keepalive=True
        )

    async def _publish(self, message: str) -> None:
        await self._client.publish(CHANNEL, message)

    async def _messages(self) -> AsyncIterator[str | None]:
        async with self._client.pubsub() as pubsub:
            # No read timeout on this connection, so a Redis that never answers the login
            # would hold the listener for ever: it is an outage, retried like one.
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await pubsub.subscribe(CHANNEL)
            yield None
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield message["data"].decode(errors="replace")

    async def _close(self) -> None:
        await self._client.aclose()

    def describe_refusal(self, exc: BaseException) -> str:
        return refusal(self._url, exc)


def refusal(url: str, exc: BaseException) -> str:
    """One line on a refusal (an exception of REFUSED) and what to fix, without the
    password."""
    parts = urlsplit(url)
    where = f"Redis at {redis_address(url)}"
    reason = str(exc)
    if parts.password:  # Redis does not echo it; should it ever
        for secret in {unquote(parts.password), parts.password}:
            reason = reason.replace(secret, "***")
    if isinstance(exc, redis.exceptions.NoPermissionError):
        user = unquote(parts.username) if parts.username else "default"
        return (
            f"{where} refuses the user {user!r} a command the signals need ({reason}); grant"
            f" it PUBLISH and SUBSCRIBE on the channel {CHANNEL}"
        )
    if parts.password is None and parts.username is None:
        # (redis-py's own words for it are about its HELLO command)
        return f"{where} asks for a password, and the redis URL in the config has none"
    return (
        f"{where} refused the login ({reason}); the password or user in the config's"
        " redis URL is wrong"
    )


def check_login(url: str, timeout: float = LOGIN_SECONDS) -> Exception | None:
    """Log in to Redis and run what the signals run (PUBLISH, SUBSCRIBE) once, all of it
    within `timeout` (one deadline, not one per connection and command). A refusal raises
    ConfigError. The error of an unreachable or silent Redis (an outage, which the server
    rides out) is returned; None when Redis let everything through."""
    try:
        asyncio.run(_log_in(url, timeout))
    except REFUSED as exc:
        raise ConfigError(refusal(url, exc)) from None
    except TimeoutError:
        return TimeoutError(f"no answer within {timeout:g} s")
    except (redis.RedisError, OSError) as exc:
        return exc
    return None


async def _log_in(url: str, timeout: float) -> None:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            # An origin without a topic: the listeners skip it.
            await client.publish(CHANNEL, f"check-{secrets.token_hex(4)}")
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                await pubsub.get_message(timeout=None)  # its answer: a refusal is raised
    finally:
        await client.aclose()


def publish_once(url: str, topic: str, payload: str = "") -> str | None:
    """Send one signal from a short-lived process (the CLI); None when sent, else why not
    in one line (the replicas then see the change within their polling or cache time)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.publish(CHANNEL, f"cli-{secrets.token_hex(4)} {topic} {payload}")
    except REFUSED as exc:
        return refusal(url, exc)
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {redis_address(url)} is unreachable ({first_line(exc)})"
    finally:
        client.close()
    return None
