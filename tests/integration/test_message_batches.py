"""Anthropic Message Batches through the real gateway with the anthropic SDK: requests on
several upstream types run as tasks, results as JSONL, validation of the whole batch up
front, cancel, delete, expiry, and one key never seeing another's batches."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import LIMITED_KEY, STATIC_KEY
from tests.integration.tasks_support import TasksGateway, running


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("batches"), emulator.url)


@pytest.fixture
def claude(gateway: TasksGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)


def request(custom_id: str, model: str, text: str) -> Any:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "params": {"model": model, "max_tokens": 50, "messages": messages},
    }


PARAMS = request("a", "claude-sonnet-4-5", "x")["params"]
URL = "http://127.0.0.1:9/hook"
"""A callback URL the address rules allow here (fetch.allow), unanswered."""


def listed_tasks(gateway: TasksGateway) -> list[str]:
    page = httpx.get(f"{gateway.url}/v1/tasks?limit=100", headers=gateway.headers()).json()
    return [task["id"] for task in page["data"]]


def until_ended(claude: anthropic.Anthropic, batch_id: str) -> Any:
    deadline = time.monotonic() + 30
    batch = claude.messages.batches.retrieve(batch_id)
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
        batch = claude.messages.batches.retrieve(batch_id)
    return batch


def test_a_batch_runs_on_every_upstream_and_returns_jsonl_results(
    claude: anthropic.Anthropic, gateway: TasksGateway
) -> None:
    tag = uuid.uuid4().hex[:6]
    tasks_before = listed_tasks(gateway)
    created = claude.messages.batches.create(
        requests=[
            request("on-anthropic", "claude-sonnet-4-5", f"first {tag}"),
            request("on-openai", "gpt-4o-mini", f"second {tag}"),
            request("on-gemini", "gemini-2.5-flash", f"third {tag}"),
            request("refused", "claude-sonnet-4-5", "[[error 400]] no"),
        ]
    )
    assert created.type == "message_batch" and created.processing_status == "in_progress"
    assert created.request_counts.processing == 4 and created.results_url is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600
    ended = until_ended(claude, created.id)
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 3, 1)
    assert ended.ended_at is not None and ended.results_url.endswith(f"/{created.id}/results")
    results = {r.custom_id: r.result for r in claude.messages.batches.results(created.id)}
    assert results["on-anthropic"].message.content[0].text == f"You said: first {tag}"
    assert results["on-openai"].message.content[0].text == f"You said: second {tag}"
    assert results["on-gemini"].message.content[0].text == f"You said: third {tag}"
    assert results["on-openai"].message.model == "gpt-4o-mini"
    refused = results["refused"]
    assert refused.type == "errored" and refused.error.error.type == "invalid_request_error"
    assert created.id in [b.id for b in claude.messages.batches.list(limit=100)]
    assert listed_tasks(gateway) == tasks_before  # a batch's requests are not /v1/tasks
    assert claude.messages.batches.delete(created.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.batches.retrieve(created.id)


@pytest.mark.parametrize(
    ("requests", "says"),
    [
        ([], "requests"),
        ([request("bad id!", "claude-sonnet-4-5", "x")], "requests.0.custom_id"),
        ([request("a", "claude-sonnet-4-5", "x")] * 2, "requests.1.custom_id"),
        ([request("a", "no-such-model", "x")], "requests.0.params"),
        ([{"custom_id": "a", "params": {"model": "claude-sonnet-4-5", "stream": True}}], "stream"),
        ([{"custom_id": "a", "params": {"model": "claude-sonnet-4-5"}}], "requests.0.params"),
        (
            [{"custom_id": "a", "params": {**PARAMS, "callback_url": URL}}],
            "requests.0.params.callback_url",
        ),
        (
            [
                request("a", "gpt-4o-mini", "x"),
                {"custom_id": "b", "params": {**PARAMS, "webhook_url": URL}},
            ],
            "requests.1.params.webhook_url",
        ),
    ],
)
def test_a_bad_request_refuses_the_whole_batch(
    claude: anthropic.Anthropic, requests: list[Any], says: str
) -> None:
    before = len(claude.messages.batches.list(limit=1000).data)
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.batches.create(requests=requests)
    assert says in refused.value.message
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert len(claude.messages.batches.list(limit=1000).data) == before


def test_cancel_ends_the_batch_with_its_requests_canceled(
    claude: anthropic.Anthropic, gateway: TasksGateway
) -> None:
    created = claude.messages.batches.create(
        requests=[request(f"slow-{n}", "claude-sonnet-4-5", "[[delay 4000]] x") for n in range(6)]
    )
    url = f"{gateway.url}/v1/messages/batches/{created.id}/results"
    early = httpx.get(url, headers=gateway.headers())  # not ended: no results, no delete
    assert early.status_code == 400 and early.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.batches.delete(created.id)
    canceling = claude.messages.batches.cancel(created.id)
    assert canceling.cancel_initiated_at is not None
    assert canceling.processing_status in ("canceling", "ended")
    ended = until_ended(claude, created.id)
    assert ended.request_counts.canceled == 6
    assert {r.result.type for r in claude.messages.batches.results(created.id)} == {"canceled"}


def test_another_keys_batch_is_unknown(claude: anthropic.Anthropic, gateway: TasksGateway) -> None:
    mine = claude.messages.batches.create(requests=[request("only", "claude-sonnet-4-5", "mine")])
    other = anthropic.Anthropic(base_url=gateway.url, api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        other.messages.batches.retrieve(mine.id)
    with pytest.raises(anthropic.NotFoundError):
        other.messages.batches.cancel(mine.id)
    assert mine.id not in [b.id for b in other.messages.batches.list()]
    until_ended(claude, mine.id)
    url = f"{gateway.url}/v1/messages/batches/{mine.id}/results"
    assert httpx.get(url, headers=gateway.headers(LIMITED_KEY)).status_code == 404
    assert httpx.get(url, headers=gateway.headers()).status_code == 200


def test_each_request_counts_against_the_keys_limits(gateway: TasksGateway) -> None:
    command = [sys.executable, "-m", "polyrelay", "keys", "create", "--name", "budget"]
    command += ["--token-budget", "20", "--config", str(gateway.config)]
    made = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    secret = made.splitlines()[1]
    client = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
    # "hello there friend" is 3 input tokens and its reply 5 output ones: 8 a request.
    requests = [request(f"r{n}", "claude-sonnet-4-5", "hello there friend") for n in range(8)]
    created = client.messages.batches.create(requests=requests)
    ended = until_ended(client, created.id)
    counts = ended.request_counts
    assert counts.succeeded + counts.errored == 8
    assert 2 <= counts.succeeded <= 6  # the budget stops them (4 slots run at once)
    errored = [
        r for r in client.messages.batches.results(created.id) if r.result.type != "succeeded"
    ]
    assert errored and all("token budget" in r.result.error.error.message for r in errored)


def test_an_expired_batch_ends_its_unstarted_requests_expired(
    claude: anthropic.Anthropic, gateway: TasksGateway
) -> None:
    slow = [request(f"late-{n}", "claude-sonnet-4-5", "[[delay 2500]] x") for n in range(7)]
    created = claude.messages.batches.create(requests=slow)
    of_batch = (
        "SELECT t.id, t.status FROM message_batch_requests r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.batch_id = ?"
    )
    with sqlite3.connect(gateway.database) as conn:
        deadline = time.monotonic() + 10
        while True:  # the 4 worker slots run 4 of the 7
            statuses = dict(conn.execute(of_batch, (created.id,)).fetchall())
            running = {t for t, status in statuses.items() if status == "processing"}
            if len(running) == 4:
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.02)
        # Claimed is not yet started: a run checks the expiry as it starts, so let these
        # four reach the upstream (each takes 2.5 s there) before the batch expires.
        time.sleep(0.5)
        # as if the 24 hours ran out now
        expired = (time.time() - 1, created.id)
        conn.execute("UPDATE message_batches SET expires_at = ? WHERE id = ?", expired)
        conn.commit()
        # Nobody reads the batch: the workers claim the other 3 and end them unrun.
        while any(s in ("pending", "processing") for s in statuses.values()):
            assert time.monotonic() < deadline + 10, statuses
            time.sleep(0.05)
            statuses = dict(conn.execute(of_batch, (created.id,)).fetchall())
    assert {t for t, status in statuses.items() if status == "success"} == running
    assert sorted(statuses.values()).count("expired") == 3
    ended = until_ended(claude, created.id)
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (4, 3)
    kinds = [r.result.type for r in claude.messages.batches.results(created.id)]
    assert sorted(kinds) == ["expired"] * 3 + ["succeeded"] * 4


def test_paging_back_with_before_id_returns_the_batches_next_to_it(gateway: TasksGateway) -> None:
    command = [sys.executable, "-m", "polyrelay", "keys", "create", "--name", "pager"]
    made = subprocess.run(
        [*command, "--config", str(gateway.config)], capture_output=True, text=True, check=True
    ).stdout
    client = anthropic.Anthropic(base_url=gateway.url, api_key=made.splitlines()[1], max_retries=0)
    made_ids = [  # oldest first
        client.messages.batches.create(requests=[request("only", "claude-sonnet-4-5", f"{n}")]).id
        for n in range(5)
    ]
    newest_first = made_ids[::-1]
    back = client.messages.batches.list(limit=2, before_id=made_ids[0])
    assert [b.id for b in back.data] == [made_ids[2], made_ids[1]]
    assert back.has_more and (back.first_id, back.last_id) == (made_ids[2], made_ids[1])
    last = client.messages.batches.list(limit=2, before_id=made_ids[2])
    assert [b.id for b in last.data] == [made_ids[4], made_ids[3]] and not last.has_more
    everything = client.messages.batches.list(limit=4, before_id=made_ids[0])
    assert [b.id for b in everything.data] == newest_first[:4] and not everything.has_more
    # paging on to older batches, for comparison
    on = client.messages.batches.list(limit=2, after_id=made_ids[4])
    assert [b.id for b in on.data] == [made_ids[3], made_ids[2]] and on.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == newest_first


def test_a_batch_never_ends_before_it_was_made_or_cancelled(claude: anthropic.Anthropic) -> None:
    for _ in range(3):  # task times are whole seconds: each run ends within its second
        quick = claude.messages.batches.create(requests=[request("q", "gpt-4o-mini", "quick")])
        ended = until_ended(claude, quick.id)
        assert ended.ended_at is not None and ended.ended_at >= ended.created_at
        slow = claude.messages.batches.create(
            requests=[request("s", "claude-sonnet-4-5", "[[delay 3000]] slow")]
        )
        cancelled = claude.messages.batches.cancel(slow.id)
        assert cancelled.cancel_initiated_at is not None and cancelled.ended_at is not None
        assert cancelled.created_at <= cancelled.cancel_initiated_at <= cancelled.ended_at


def test_batch_errors_carry_their_request_id_in_the_body_as_messages_errors_do(
    gateway: TasksGateway,
) -> None:
    headers = {**gateway.headers(), "anthropic-version": "2023-06-01"}
    base = f"{gateway.url}/v1/messages/batches"
    refused = [
        httpx.post(base, json={"requests": []}, headers=headers),
        httpx.get(f"{base}/msgbatch_unknown", headers=headers),
        httpx.post(f"{base}/msgbatch_unknown/cancel", headers=headers),
        httpx.get(f"{base}?limit=0", headers=headers),
    ]
    messages = httpx.post(f"{gateway.url}/v1/messages", json={"model": "x"}, headers=headers)
    for response in [*refused, messages]:
        assert response.status_code in (400, 404), response.text
        body = response.json()
        assert set(body) == {"type", "error", "request_id"}, body
        assert body["request_id"].startswith("req_")
        assert body["request_id"] == response.headers["request-id"]


def test_an_errored_result_is_an_anthropic_error_body_with_its_request_id(
    claude: anthropic.Anthropic, gateway: TasksGateway
) -> None:
    created = claude.messages.batches.create(
        requests=[request("refused", "claude-sonnet-4-5", "[[error 400]] no")]
    )
    until_ended(claude, created.id)
    (line,) = claude.messages.batches.results(created.id)
    assert line.result.type == "errored"
    error = line.result.error  # the SDK's ErrorResponse, read from the results file
    assert error.type == "error" and error.error.type == "invalid_request_error"
    assert error.request_id is not None and error.request_id.startswith("req_")
    raw = httpx.get(
        f"{gateway.url}/v1/messages/batches/{created.id}/results", headers=gateway.headers()
    )
    body = raw.json()["result"]["error"]
    assert set(body) == {"type", "error", "request_id"}, body  # as /v1/messages errors are
    assert body["request_id"] == error.request_id
    of_run = "SELECT t.request_id FROM tasks t JOIN message_batch_requests r ON r.task_id = t.id"
    with sqlite3.connect(gateway.database) as conn:
        ran_as = conn.execute(of_run + " WHERE r.batch_id = ?", (created.id,)).fetchone()
    assert ran_as == (error.request_id,)  # the id its run had, in the gateway's log
