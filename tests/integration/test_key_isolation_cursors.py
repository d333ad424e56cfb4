"""One key's ids as another key's paging cursors, through the real gateway: a list paged
`after` (or `before`) another key's task or batch must answer as for an id that does not
exist, so that a key can neither learn that the id is real nor where it falls in time."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import LIMITED_KEY, STATIC_KEY
from tests.integration.tasks_support import TasksGateway, running

MODEL = "gpt-4o-mini"  # the one model the limited key may use
UNKNOWN_TASK = "task_" + "0" * 24
UNKNOWN_BATCH = "msgbatch_" + "0" * 24


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("cursors"), emulator.url)


def submit_task(gateway: TasksGateway, key: str) -> str:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers=gateway.headers(key),
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "async": True},
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def listed_tasks(gateway: TasksGateway, key: str, after: str) -> list[str]:
    response = httpx.get(
        f"{gateway.url}/v1/tasks", params={"after": after}, headers=gateway.headers(key)
    )
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["data"]]


def test_another_keys_task_id_pages_as_an_unknown_one(gateway: TasksGateway) -> None:
    mine = submit_task(gateway, LIMITED_KEY)
    theirs = submit_task(gateway, STATIC_KEY)  # newer than mine
    assert listed_tasks(gateway, LIMITED_KEY, after=UNKNOWN_TASK) == []
    assert listed_tasks(gateway, LIMITED_KEY, after=theirs) == []  # not [mine]
    assert listed_tasks(gateway, STATIC_KEY, after=theirs) == []
    newer = submit_task(gateway, LIMITED_KEY)
    assert listed_tasks(gateway, LIMITED_KEY, after=newer) == [mine]  # its own still page


def batch(client: anthropic.Anthropic) -> str:
    params = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "b"}]}
    return client.messages.batches.create(requests=[{"custom_id": "x", "params": params}]).id


def test_another_keys_batch_id_pages_as_an_unknown_one(gateway: TasksGateway) -> None:
    limited = anthropic.Anthropic(base_url=gateway.url, api_key=LIMITED_KEY, max_retries=0)
    other = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    older = batch(limited)
    theirs = batch(other)
    newer = batch(limited)
    pages = limited.messages.batches
    for unknown_or_theirs in (UNKNOWN_BATCH, theirs):
        assert [b.id for b in pages.list(after_id=unknown_or_theirs)] == []
        assert [b.id for b in pages.list(before_id=unknown_or_theirs)] == []
    assert [b.id for b in pages.list(after_id=newer)][:1] == [older]
    assert [b.id for b in pages.list(before_id=older)][-1:] == [newer]
