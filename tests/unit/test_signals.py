"""Signals within a process, and across processes through a real Redis server."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.redis_server import RedisServer

from polyrelay.signals import Signals, Wakeups
from polyrelay.signals_redis import RedisSignals, publish_once

pytestmark = pytest.mark.anyio


def test_a_signal_runs_every_handler_of_its_topic_and_a_failing_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signals, seen = Signals(), []

    def broken(_: str) -> None:
        raise RuntimeError("boom")

    signals.on("t", broken)
    signals.on("t", seen.append)
    signals.on("other", lambda p: seen.append(f"other {p}"))
    with caplog.at_level(logging.ERROR, "polyrelay.signals"):
        signals.publish("t", "x")
    assert seen == ["x"]
    assert "signal t x: a handler failed" in caplog.text


async def test_wakeups_wake_only_the_waiters_of_the_id() -> None:
    wakeups = Wakeups(Signals(), "done")
    with wakeups.subscription("a") as a, wakeups.subscription("b") as b:
        wakeups.notify("a")
        assert a.is_set() and not b.is_set()
    wakeups.notify("a")  # nobody waits any more: nothing to do, nothing kept
    assert wakeups._waiters == {}


async def until(condition: object, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_signals_reach_the_other_process_but_not_back(running_redis: RedisServer) -> None:
    one, other = RedisSignals(running_redis.url), RedisSignals(running_redis.url)
    heard_by_one: list[str] = []
    heard_by_other: list[str] = []
    one.on("task-ended", heard_by_one.append)
    other.on("task-ended", heard_by_other.append)
    await one.start()
    await other.start()
    try:
        one.publish("task-ended", "task_1")
        await until(lambda: heard_by_other == ["task_1"])
        assert heard_by_one == ["task_1"]  # its own handler ran once, at once: no echo
        assert publish_once(running_redis.url, "task-ended", "task_2")
        await until(lambda: "task_2" in heard_by_one and "task_2" in heard_by_other)
    finally:
        await one.stop()
        await other.stop()


async def test_a_redis_outage_delays_signals_and_they_flow_again_after_it(
    running_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    one, other = RedisSignals(running_redis.url), RedisSignals(running_redis.url)
    heard: list[str] = []
    other.on("t", heard.append)
    await one.start()
    await other.start()
    try:
        with caplog.at_level(logging.WARNING, "polyrelay.signals"):
            running_redis.stop()
            one.publish("t", "lost")  # never raises: the waiters poll meanwhile
            await until(lambda: "signals lost" in caplog.text)
            running_redis.start()

            async def delivered() -> None:
                while "back" not in heard:
                    one.publish("t", "back")
                    await asyncio.sleep(0.1)

            async with asyncio.timeout(15):
                await delivered()
    finally:
        await one.stop()
        await other.stop()


async def test_a_server_starts_when_redis_is_down() -> None:
    signals = RedisSignals("redis://127.0.0.1:1/0")
    async with asyncio.timeout(2):  # a refusing Redis does not wait out the connect timeout
        await signals.start()
    signals.publish("t", "x")
    await signals.stop()
    assert not publish_once("redis://127.0.0.1:1/0", "t")
