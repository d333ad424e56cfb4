"""A Redis that refuses the login after start-up (its password rotated) is a configuration
error, not an outage: the listener logs it as an error once, not at every retry, retries
with a pause growing to a minute, and says when it hears signals again. A private
redis-server, since the test changes its password."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from tests.redis_server import RedisServer, new_password, started_redis

from polyrelay.backoff import Backoff, Delays
from polyrelay.settings import ConfigError
from polyrelay.signals_redis import RedisSignals, check_login, publish_once

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    yield from started_redis()  # its own: the test changes its password


async def until(condition: object, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def test_refused_logins_are_retried_with_a_pause_growing_to_a_minute() -> None:
    signals = RedisSignals("redis://127.0.0.1:1/0")
    backoff = Backoff(signals.refused_delays)
    pauses = [backoff.take() for _ in range(9)]
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60]


async def test_a_rotated_password_is_logged_once_as_an_error_until_it_is_fixed(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    old_password, old_url = own_redis.password, own_redis.url
    signals = RedisSignals(old_url)
    signals.refused_delays = Delays(first=0.02, most=0.1)  # a minute's retries in a second
    heard: list[str] = []
    signals.on("t", heard.append)
    await signals.start()
    try:
        assert publish_once(old_url, "t", "before") is None
        await until(lambda: "before" in heard)
        with caplog.at_level(logging.INFO, "polyrelay.signals"):
            rotated = new_password()
            own_redis.set_password(rotated)
            await until(lambda: _records(caplog, logging.ERROR))
            await asyncio.sleep(1.0)  # ten retries or more, each refused
            [error] = _records(caplog, logging.ERROR)
            assert "refused the login" in error and "password or user" in error
            assert f"127.0.0.1:{own_redis.port}" in error
            assert old_password not in error and quote(old_password, safe="") not in error
            assert not _records(caplog, logging.WARNING)  # not an outage
            own_redis.set_password(old_password)  # the deployment fixed
            await until(lambda: any("receiving signals again" in r for r in _records(caplog)))
        async with asyncio.timeout(5):
            while "after" not in heard:
                assert publish_once(old_url, "t", "after") is None
                await asyncio.sleep(0.05)
        assert len(_records(caplog, logging.ERROR)) == 1
    finally:
        await signals.stop()


async def test_an_outage_after_a_refusal_is_its_own_warning(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused, then unreachable, then back: one error, one warning, one recovery."""
    old_password, old_url = own_redis.password, own_redis.url
    signals = RedisSignals(old_url)
    signals.refused_delays = Delays(first=0.02, most=0.1)
    await signals.start()
    try:
        with caplog.at_level(logging.INFO, "polyrelay.signals"):
            own_redis.set_password(new_password())
            await until(lambda: _records(caplog, logging.ERROR))
            own_redis.stop()
            await until(lambda: _records(caplog, logging.WARNING), seconds=10)
            own_redis.password, own_redis.url = old_password, old_url
            own_redis.start()
            await until(lambda: any("receiving signals again" in r for r in _records(caplog)), 15)
        assert len(_records(caplog, logging.ERROR)) == len(_records(caplog, logging.WARNING)) == 1
    finally:
        await signals.stop()


def _records(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "polyrelay.signals" and (level is None or r.levelno == level)
    ]


def test_check_login_tells_a_refusal_from_an_outage(own_redis: RedisServer) -> None:
    assert check_login(own_redis.url) is None
    assert check_login("redis://127.0.0.1:1/0", timeout=2) is not None  # an outage
    wrong = f"redis://:{quote('wrong@pw', safe='')}@127.0.0.1:{own_redis.port}/0"
    with pytest.raises(ConfigError, match="refused the login") as refused:
        check_login(wrong)
    assert "wrong@pw" not in str(refused.value) and "wrong%40pw" not in str(refused.value)
    with pytest.raises(
        ConfigError, match="asks for a password, and the redis URL in the config has none"
    ):
        check_login(f"redis://127.0.0.1:{own_redis.port}/0")
