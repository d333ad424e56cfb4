"""A gateway idle on PostgreSQL while the database restarts (`pg_ctl restart -m fast`, as
an upgrade or a failover does) goes on running tasks: an async task and a background
response submitted after the restart complete, and a webhook whose delivery was pending
across it is delivered. The task worker's loops used to die at the first store call
that failed, silently, leaving every later task `pending` for good.

The test restarts a PostgreSQL cluster of its own, so the session's shared one (and the
other tests' gateways on it) never sees the restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import stop
from tests.integration.tasks_support import TasksGateway, openai_client, receiving
from tests.postgres_server import PrivateCluster, private_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    yield from private_cluster("polyrelay-pg-restart-")


@pytest.fixture
def gateway(
    cluster: PrivateCluster, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TasksGateway]:
    gateway = TasksGateway(tmp_path_factory.mktemp("restart"), emulator.url, cluster.url)
    gateway.start()
    yield gateway
    assert gateway.proc is not None
    stop(gateway.proc)


def submit(gateway: TasksGateway, text: str, callback_url: str | None = None) -> str:
    """An async Messages task's id; a request the database's return refused is resent
    (answering requests through the restart is not what this test is about)."""
    body: dict[str, object] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": text}],
        "async": True,
    }
    if callback_url is not None:
        body["callback_url"] = callback_url
    headers = {**gateway.headers(), "anthropic-version": "2023-06-01"}
    for _ in range(20):
        response = httpx.post(f"{gateway.url}/v1/messages", headers=headers, json=body)
        if response.status_code < 500:
            break
        time.sleep(0.2)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def test_tasks_run_after_a_fast_database_restart(
    cluster: PrivateCluster, gateway: TasksGateway
) -> None:
    first = submit(gateway, "before the restart")
    assert gateway.wait_final(first, timeout=10)["status"] == "success"
    with receiving(failures=1_000) as receiver:
        hooked = submit(gateway, "hook me", receiver.url)
        deadline = time.monotonic() + 10
        while not receiver.calls:  # its first delivery failed: pending, to be retried
            assert time.monotonic() < deadline, "no webhook delivery"
            time.sleep(0.02)
        cluster.ctl("-m", "fast", "-w", "restart")
        receiver.failures = 0  # from now on the receiver accepts
        time.sleep(1)  # idle: the worker's polls meet the closed connections
        started = time.monotonic()
        task_id = submit(gateway, "after the restart")
        client = openai_client(gateway)
        for _ in range(20):  # resent when the request itself met the restart
            try:
                response = client.responses.create(
                    model="gpt-4o-mini", input="in the background", background=True
                )
                break
            except openai.InternalServerError:
                time.sleep(0.2)
        task = gateway.wait_final(task_id, timeout=10)
        assert task["status"] == "success", task
        while response.status in ("queued", "in_progress"):
            assert time.monotonic() < started + 10, f"background response {response.status}"
            time.sleep(0.1)
            response = client.responses.retrieve(response.id)
        assert response.status == "completed", response
        assert response.output_text == "You said: in the background"
        assert receiver.received.wait(10), "the pending webhook was not delivered"
    delivered = [call for call in receiver.calls if call[2] == 200]
    assert '"id":"' + hooked + '"' in delivered[0][1].decode().replace(" ", "")
