"""Signals within a process, and across processes through a real Redis server and a real
PostgreSQL server (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import pytest
from tests.backends import execute
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

from polyrelay.signals import Signals, Wakeups
from polyrelay.signals_postgres import PostgresSignals, publish_once as notify_once
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


async def publish_until_heard(sender: Signals, heard: list[str], payload: str) -> None:
    """Publish `payload` every 0.1 s until it is heard (signals sent in an outage are lost)."""
    async with asyncio.timeout(15):
        while payload not in heard:
            sender.publish("t", payload)
            await asyncio.sleep(0.1)


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
        assert publish_once(running_redis.url, "task-ended", "task_2") is None
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
            await publish_until_heard(one, heard, "back")
    finally:
        await one.stop()
        await other.stop()


async def test_a_server_starts_when_redis_is_down() -> None:
    signals = RedisSignals("redis://127.0.0.1:1/0")
    async with asyncio.timeout(2):  # a refusing Redis does not wait out the connect timeout
        await signals.start()
    signals.publish("t", "x")
    await signals.stop()
    assert publish_once("redis://127.0.0.1:1/0", "t") == (
        "Redis at redis://127.0.0.1:1 is unreachable"
        " (Error 111 connecting to 127.0.0.1:1. Connection refused.)"
    )


def test_the_cli_signal_says_a_redis_refused_its_login_without_the_password(
    running_redis: RedisServer,
) -> None:
    wrong = running_redis.url.replace(quote(running_redis.password, safe=""), "not-it")
    problem = publish_once(wrong, "t")
    assert problem is not None
    assert "refused the login" in problem
    assert "is wrong" in problem
    assert "not-it" not in problem
    assert running_redis.password not in problem


async def test_postgresql_signals_reach_the_other_process_of_the_schema_only(
    running_postgres: PostgresServer,
) -> None:
    url = running_postgres.fresh_schema_url()
    one, other = PostgresSignals(url), PostgresSignals(url)
    elsewhere = PostgresSignals(running_postgres.fresh_schema_url())  # another deployment
    heard: dict[str, list[str]] = {"one": [], "other": [], "elsewhere": []}
    for name, signals in (("one", one), ("other", other), ("elsewhere", elsewhere)):
        signals.on("task-ended", heard[name].append)
        await signals.start()
    try:
        one.publish("task-ended", "task_1")
        await until(lambda: heard["other"] == ["task_1"])
        assert heard["one"] == ["task_1"]  # its own handler ran once, at once: no echo
        assert notify_once(url, "task-ended", "task_2") is None  # the CLI's way
        await until(lambda: "task_2" in heard["one"] and "task_2" in heard["other"])
        await asyncio.sleep(0.2)
        assert heard["elsewhere"] == []  # NOTIFY reaches the whole database; not its schemas
    finally:
        for signals in (one, other, elsewhere):
            await signals.stop()


async def test_a_lost_listening_session_is_replaced_and_signals_flow_again(
    running_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = running_postgres.fresh_schema_url()
    one, other = PostgresSignals(url), PostgresSignals(url)
    heard: list[str] = []
    other.on("t", heard.append)
    await one.start()
    await other.start()
    try:
        with caplog.at_level(logging.INFO, "polyrelay.signals"):
            execute(  # the server ends every session of the gateway's, as a restart would
                url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid != pg_backend_pid() AND datname = current_database()"
                " AND query LIKE 'LISTEN%'",
            )
            await until(lambda: "signals lost" in caplog.text)
            await publish_until_heard(one, heard, "back")
            assert "postgresql: receiving signals again" in caplog.text
    finally:
        await one.stop()
        await other.stop()


async def test_a_server_starts_when_postgresql_signals_cannot_connect() -> None:
    signals = PostgresSignals("postgresql://nobody@127.0.0.1:1/none")
    async with asyncio.timeout(2):  # a refused connection does not wait out the timeout
        await signals.start()
    signals.publish("t", "x")
    await signals.stop()
    problem = notify_once("postgresql://nobody@127.0.0.1:1/none", "t")
    assert problem is not None
    assert problem.startswith("PostgreSQL could not be reached (connection failed")
