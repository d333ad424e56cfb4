"""What a background response leaves in the database: the response under the gateway's
own id and nothing else (no copy under the upstream's id), and nothing readable once
it is deleted, through /v1/responses, through its task or the tasks CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.tasks_support import TasksGateway, openai_client, running

MODELS = ["gpt-5-mini", "claude-sonnet-4-5"]
"""An openai-responses upstream (the fast path relays its Response) and a translated one."""


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("background-storage"), emulator.url)


@pytest.fixture
def gpt(gateway: TasksGateway) -> openai.OpenAI:
    return openai_client(gateway)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def completed(gpt: openai.OpenAI, text: str, model: str, *, stream: bool) -> str:
    """The id of a background response to `text`, once it has completed."""
    if stream:
        with gpt.responses.stream(model=model, input=text, background=True) as events:
            response_id = events.get_final_response().id
    else:
        response_id = gpt.responses.create(model=model, input=text, background=True).id
    deadline = time.monotonic() + 20
    while gpt.responses.retrieve(response_id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return response_id


def stored_ids_holding(gateway: TasksGateway, text: str) -> list[str]:
    """The ids of the stored responses with `text` in any column (input items, output),
    once the responses' writer thread has committed what it had parked."""
    time.sleep(0.5)  # COMMIT_SECONDS is 0.05
    with sqlite3.connect(gateway.database) as conn:
        rows = conn.execute("SELECT * FROM responses").fetchall()
    return sorted(str(row[0]) for row in rows if any(text in str(value) for value in row))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_a_background_response_is_stored_under_the_gateways_id_alone(
    gpt: openai.OpenAI, gateway: TasksGateway, model: str, stream: bool
) -> None:
    text = unique("stored once")
    response_id = completed(gpt, text, model, stream=stream)
    assert stored_ids_holding(gateway, text) == [response_id]
    final = gpt.responses.retrieve(response_id)
    assert final.output_text == f"You said: {text}"
    assert final.store is True and final.background is True
    task = gateway.get(response_id).json()
    assert task["result"]["id"] == response_id and task["result"]["store"] is True


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_a_deleted_background_response_is_readable_nowhere(
    gpt: openai.OpenAI, gateway: TasksGateway, model: str, stream: bool
) -> None:
    text = unique("deleted after it ended")
    response_id = completed(gpt, text, model, stream=stream)
    assert text in gateway.get(response_id).text  # its task held the response
    gpt.responses.delete(response_id)
    with pytest.raises(openai.NotFoundError):
        gpt.responses.retrieve(response_id)
    with pytest.raises(openai.NotFoundError):
        list(gpt.responses.retrieve(response_id, stream=True, starting_after=0))
    for wait in (0, 1):
        assert gateway.get(response_id, wait=wait).status_code == 404
    listed = httpx.get(f"{gateway.url}/v1/tasks?limit=100", headers=gateway.headers()).text
    assert response_id not in listed and text not in listed
    show = [sys.executable, "-m", "polyrelay", "tasks", "show", response_id]
    shown = subprocess.run([*show, "--config", str(gateway.config)], capture_output=True, text=True)
    assert shown.returncode != 0 and text not in shown.stdout
    assert stored_ids_holding(gateway, text) == []
