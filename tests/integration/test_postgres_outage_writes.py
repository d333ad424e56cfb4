"""What two replicas on one PostgreSQL answer and keep while it is stopped: `store: true`
Responses and chat requests are answered 200 (they need no read of the database), and once
it is back every stored response is readable by id on the other replica and every request
counts in `GET /v1/usage` (the writer threads keep them parked and retry, not drop them).

The cluster is this module's own: the session's is shared by other tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.tasks_support import TasksGateway, openai_client, running_pair
from tests.postgres_server import PrivateCluster, private_cluster

HELLO: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    yield from private_cluster("polyrelay-pg-writes-")


@pytest.fixture(scope="module")
def replicas(
    cluster: PrivateCluster, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TasksGateway, TasksGateway]]:
    yield from running_pair(tmp_path_factory, emulator.url, cluster.url)


def requests_counted(gateway: TasksGateway) -> int:
    answer = httpx.get(gateway.url + "/v1/usage", headers=gateway.headers(), timeout=30)
    answer.raise_for_status()
    return sum(group["requests"] for group in answer.json()["data"])


WRITERS = ("polyrelay-responses", "polyrelay-usage")


def outages_logged(gateway: TasksGateway, writer: str) -> int:
    """How many outages the gateway's `writer` thread has logged as they started."""
    log = "".join(path.read_text() for path in gateway.workdir.glob("gateway-*.log"))
    return log.count(f"{writer}: the database is unreachable")


def test_what_was_answered_during_an_outage_is_kept_and_written_when_it_ends(
    cluster: PrivateCluster, replicas: tuple[TasksGateway, TasksGateway]
) -> None:
    one, other = replicas
    gpt = openai_client(one)
    gpt.responses.create(model="gpt-4o-mini", input="before")
    before = requests_counted(one)  # which commits its parked rows first
    outages = {writer: outages_logged(one, writer) for writer in WRITERS}

    cluster.stop()
    try:
        stored = [
            gpt.responses.create(model="gpt-4o-mini", input=f"during {i}", store=True).id
            for i in range(5)
        ]
        for _ in range(5):
            reply = gpt.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert reply.choices[0].message.content == "You said: hello"
        # Both writers meet the outage (usage's gathers for a second), or this would test
        # only a database that was back before they tried.
        deadline = time.monotonic() + 30
        while any(outages_logged(one, writer) <= outages[writer] for writer in WRITERS):
            assert time.monotonic() < deadline, "the writers did not meet the outage"
            time.sleep(0.1)
    finally:
        cluster.start()

    deadline = time.monotonic() + 15
    readable: set[str] = set()
    while len(readable) < len(stored):
        assert time.monotonic() < deadline, f"not on the other replica: {set(stored) - readable}"
        for response_id in set(stored) - readable:
            try:
                openai_client(other).responses.retrieve(response_id)
                readable.add(response_id)
            except (openai.NotFoundError, openai.InternalServerError):
                pass  # not written yet; or a connection the restart broke, replaced next
        time.sleep(0.2)
    while True:
        try:
            counted = requests_counted(other)
        except httpx.HTTPStatusError:
            counted = -1  # a connection the restart broke
        if counted == before + 10:
            break
        assert time.monotonic() < deadline, f"usage counts {counted}, not {before + 10}"
        time.sleep(0.2)


def test_a_shutdown_during_an_outage_says_what_it_loses_and_ends_cleanly(
    cluster: PrivateCluster, emulator: Emulator, tmp_path: Path
) -> None:
    gateway = TasksGateway(tmp_path, emulator.url, cluster.url)
    gateway.start()
    assert gateway.proc is not None
    openai_client(gateway).responses.create(model="gpt-4o-mini", input="before")
    cluster.stop()
    try:
        openai_client(gateway).responses.create(model="gpt-4o-mini", input="during", store=True)
        gateway.proc.terminate()
        gateway.proc.wait(timeout=30)
    finally:
        cluster.start()
    log = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    assert "polyrelay-responses: the database is unreachable" in log
    assert "stored responses wait in memory for it and are lost" in log
    assert "Application shutdown failed" not in log
