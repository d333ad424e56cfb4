"""The async task mode through the real gateway: `async: true` on /v1/messages and
/v1/chat/completions, /v1/tasks, webhooks, and `background: true` on /v1/responses."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import LIMITED_KEY, STATIC_KEY
from tests.integration.tasks_support import (
    WEBHOOK_KEY,
    TasksGateway,
    receiving,
    running,
    verify_signature,
)

CLAUDE = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def tasks_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("tasks"), emulator.url)


@pytest.fixture
def claude(tasks_gateway: TasksGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tasks_gateway.url, api_key=STATIC_KEY, max_retries=0)


@pytest.fixture
def gpt(tasks_gateway: TasksGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=tasks_gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def submit_message(claude: anthropic.Anthropic, text: str, **extra: Any) -> dict[str, Any]:
    raw = claude.messages.with_raw_response.create(
        model=CLAUDE,
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        extra_body={"async": True, **extra},
    )
    assert raw.http_response.status_code == 202, raw.http_response.text
    task: dict[str, Any] = raw.http_response.json()
    return task


def without_ids(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("id", "created")}


def test_messages_async_result_equals_the_synchronous_body(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    text = unique("compare me")
    task = submit_message(claude, text)
    assert task["object"] == "task" and task["status"] == "pending"
    assert task["id"].startswith("task_") and abs(task["created_at"] - time.time()) < 5
    done = tasks_gateway.wait_final(task["id"])
    sync = claude.messages.with_raw_response.create(
        model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": text}]
    ).http_response.json()
    assert done["status"] == "success", done
    assert without_ids(done["result"]) == without_ids(sync)
    assert done["result"]["content"][0]["text"] == f"You said: {text}"
    assert done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]


def test_async_field_is_not_sent_upstream(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway, emulator: Emulator
) -> None:
    text = unique("strip async")
    task = submit_message(claude, text)
    tasks_gateway.wait_final(task["id"])
    bodies = [r["body"] for r in emulator.requests() if text in json.dumps(r["body"])]
    assert bodies and all("async" not in body for body in bodies)


def test_chat_completions_async_result_equals_the_synchronous_body(
    gpt: openai.OpenAI, tasks_gateway: TasksGateway
) -> None:
    text = unique("chat task")
    messages: Any = [{"role": "user", "content": text}]
    raw = gpt.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=messages, extra_body={"async": True}
    )
    assert raw.http_response.status_code == 202
    assert "polyrelay-warnings" not in raw.http_response.headers
    done = tasks_gateway.wait_final(raw.http_response.json()["id"])
    sync = gpt.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=messages
    ).http_response.json()
    assert done["status"] == "success"
    assert without_ids(done["result"]) == without_ids(sync)


def test_final_upstream_error_fails_the_task(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    task = submit_message(claude, unique("[[error 400]] bad"))
    done = tasks_gateway.wait_final(task["id"])
    assert done["status"] == "failed"
    assert done["attempts"] == 1
    assert done["error"]["status"] == 400
    assert done["error"]["type"] == "invalid_request_error"
    assert done["error"]["message"]
    assert "result" not in done


def test_retryable_upstream_error_is_retried(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    text = unique("[[error 529 once]] overloaded")
    task = submit_message(claude, text)
    done = tasks_gateway.wait_final(task["id"])
    assert done["status"] == "success", done
    assert done["attempts"] == 2
    assert done["result"]["content"][0]["text"].startswith("You said: overloaded")


def test_invalid_request_is_rejected_at_once(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(
            model=CLAUDE,
            max_tokens=0,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"async": True},
        )
    assert "max_tokens" in str(bad.value)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(
            model="no-such-model",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"async": True},
        )


def test_stream_wins_over_async(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=CLAUDE,
        max_tokens=100,
        messages=[{"role": "user", "content": "stream me"}],
        extra_body={"async": True},
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "You said: stream me"


def test_wait_returns_when_the_task_ends(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    task = submit_message(claude, unique("[[delay 1500]] slow"))
    now = tasks_gateway.get(task["id"]).json()
    assert now["status"] in ("pending", "processing")
    started = time.monotonic()
    done = tasks_gateway.get(task["id"], wait=20).json()
    assert done["status"] == "success"
    assert time.monotonic() - started < 10
    too_long = tasks_gateway.get(task["id"], wait=61)
    assert too_long.status_code == 400
    assert too_long.json()["error"]["param"] == "wait"


def test_cancel_a_running_task(claude: anthropic.Anthropic, tasks_gateway: TasksGateway) -> None:
    task = submit_message(claude, unique("[[delay 4000]] cancel me"))
    url = f"{tasks_gateway.url}/v1/tasks/{task['id']}/cancel"
    cancelled = httpx.post(url, headers=tasks_gateway.headers())
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    time.sleep(0.5)
    assert tasks_gateway.get(task["id"]).json()["status"] == "cancelled"
    again = httpx.post(url, headers=tasks_gateway.headers())
    assert again.status_code == 409


def test_a_key_sees_only_its_own_tasks(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    task = submit_message(claude, unique("mine"))
    other = tasks_gateway.get(task["id"], key=LIMITED_KEY)
    assert other.status_code == 404
    assert other.json()["error"]["type"] == "invalid_request_error"
    cancel = httpx.post(
        f"{tasks_gateway.url}/v1/tasks/{task['id']}/cancel",
        headers=tasks_gateway.headers(LIMITED_KEY),
    )
    assert cancel.status_code == 404
    listing = httpx.get(f"{tasks_gateway.url}/v1/tasks", headers=tasks_gateway.headers(LIMITED_KEY))
    assert task["id"] not in [t["id"] for t in listing.json()["data"]]
    unknown = httpx.get(
        f"{tasks_gateway.url}/v1/tasks/task_nope",
        headers={"x-api-key": STATIC_KEY, "anthropic-version": "2023-06-01"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "error"
    assert unknown.json()["error"]["type"] == "not_found_error"


def test_list_is_newest_first_and_paged(gpt: openai.OpenAI, tasks_gateway: TasksGateway) -> None:
    limited = openai.OpenAI(base_url=tasks_gateway.url + "/v1", api_key=LIMITED_KEY)
    ids = []
    for n in range(3):
        raw = limited.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"page {n}"}],
            extra_body={"async": True},
        )
        ids.append(raw.http_response.json()["id"])
    headers = tasks_gateway.headers(LIMITED_KEY)
    first = httpx.get(f"{tasks_gateway.url}/v1/tasks?limit=2", headers=headers).json()
    assert [t["id"] for t in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True
    after = first["last_id"]
    second = httpx.get(f"{tasks_gateway.url}/v1/tasks?limit=2&after={after}", headers=headers)
    assert second.json()["data"][0]["id"] == ids[0]
    bad = httpx.get(f"{tasks_gateway.url}/v1/tasks?limit=0", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_webhook_is_signed_and_retried(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    with receiving(failures=1) as receiver:
        task = submit_message(claude, unique("hook me"), callback_url=receiver.url)
        assert receiver.received.wait(20), receiver.calls
    assert [status for _, _, status in receiver.calls] == [500, 200]
    (first, _, _), (headers, body, _) = receiver.calls
    assert headers["webhook-id"] == first["webhook-id"]
    assert verify_signature(WEBHOOK_KEY, headers, body)
    assert not verify_signature(b"another key", headers, body)
    delivered = json.loads(body)
    assert delivered["id"] == task["id"] and delivered["status"] == "success"
    assert delivered["result"]["content"][0]["text"].startswith("You said: hook me")


def test_a_webhook_delivered_after_a_failure_keeps_no_error(
    claude: anthropic.Anthropic, tasks_gateway: TasksGateway
) -> None:
    import sqlite3

    with receiving(failures=1) as receiver:
        task = submit_message(claude, unique("hook me again"), callback_url=receiver.url)
        assert receiver.received.wait(20), receiver.calls
    of_task = "SELECT status, attempts, last_error FROM task_webhooks WHERE task_id = ?"
    deadline = time.monotonic() + 10
    with sqlite3.connect(tasks_gateway.database) as conn:
        while (row := conn.execute(of_task, (task["id"],)).fetchone())[0] == "pending":
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
    assert row == ("delivered", 2, None)  # the first attempt's HTTP 500 is not its state


@pytest.mark.parametrize("url", ["http://169.254.169.254/hook", "http://10.1.2.3/x", "ftp://a/b"])
def test_refused_callback_url_is_a_400(claude: anthropic.Anthropic, url: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        submit_message(claude, "x", callback_url=url)
    assert "callback_url: URL refused" in str(bad.value)


def test_a_refused_callback_url_is_named_in_the_error(gpt: openai.OpenAI) -> None:
    for field in ("callback_url", "webhook_url"):
        with pytest.raises(openai.BadRequestError) as bad:
            gpt.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "x"}],
                extra_body={"async": True, field: "http://10.1.2.3/hook"},
            )
        assert bad.value.param == "callback_url" and "private address" in bad.value.message


@pytest.mark.parametrize("model", ["gpt-5-mini", CLAUDE])
def test_background_response(gpt: openai.OpenAI, model: str) -> None:
    text = unique("in the background")
    created = gpt.responses.create(model=model, input=text, background=True)
    assert created.status == "queued" and created.background is True
    deadline = time.monotonic() + 20
    response = created
    while response.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        response = gpt.responses.retrieve(created.id)
    assert response.status == "completed"
    assert response.id == created.id
    assert response.output_text == f"You said: {text}"


def test_background_response_cancel(gpt: openai.OpenAI) -> None:
    created = gpt.responses.create(
        model="gpt-5-mini", input=unique("[[delay 4000]] cancel"), background=True
    )
    cancelled = gpt.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    time.sleep(0.3)
    assert gpt.responses.retrieve(created.id).status == "cancelled"


def test_database_holds_each_result_once(tasks_gateway: TasksGateway) -> None:
    import sqlite3

    path = Path(tasks_gateway.database)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status, completions FROM tasks").fetchall()
    assert rows
    assert all(c == (1 if s == "success" else 0) for s, c in rows)


@pytest.mark.parametrize("model", ["gpt-5-mini", CLAUDE])
def test_a_background_responses_task_result_is_the_response(
    gpt: openai.OpenAI, tasks_gateway: TasksGateway, model: str
) -> None:
    with receiving(failures=0) as receiver:
        created = gpt.responses.create(
            model=model,
            input=unique("tell the hook"),
            background=True,
            extra_body={"callback_url": receiver.url},
        )
        assert receiver.received.wait(20), receiver.calls
    delivered = json.loads(receiver.calls[-1][1])
    task = tasks_gateway.get(created.id).json()
    url = f"{tasks_gateway.url}/v1/responses/{created.id}"
    stored = httpx.get(url, headers=tasks_gateway.headers()).json()
    assert stored["id"] == created.id and stored["background"] is True
    assert delivered["id"] == task["id"] == created.id
    assert delivered["result"] == task["result"] == stored


def sent_upstream(emulator: Emulator, text: str) -> bool:
    return any(text in json.dumps(r["body"]) for r in emulator.requests())


def test_a_deleted_background_response_is_not_run_and_stays_deleted(
    gpt: openai.OpenAI, tasks_gateway: TasksGateway, emulator: Emulator
) -> None:
    busy = [  # the 4 worker slots: the next one waits, queued
        gpt.responses.create(model="gpt-4o-mini", input="[[delay 1500]] busy", background=True)
        for _ in range(4)
    ]
    queued_text, running_text = unique("deleted while queued"), unique("[[delay 1500]] deleted")
    queued = gpt.responses.create(model="gpt-4o-mini", input=queued_text, background=True)
    assert gpt.responses.retrieve(queued.id).status == "queued"
    gpt.responses.delete(queued.id)
    running = gpt.responses.create(model=CLAUDE, input=running_text, background=True)
    while gpt.responses.retrieve(running.id).status != "in_progress":
        time.sleep(0.05)
    gpt.responses.delete(running.id)
    for created in busy:
        tasks_gateway.wait_final(created.id)
    time.sleep(2)  # the deleted run's upstream call (1.5 s) would have ended by now
    for deleted in (queued, running):
        with pytest.raises(openai.NotFoundError):
            gpt.responses.retrieve(deleted.id)
        assert tasks_gateway.get(deleted.id).status_code == 404  # deleted with the response
    assert not sent_upstream(emulator, queued_text)


def test_a_background_response_deleted_while_it_runs_still_sends_its_cancelled_webhook(
    gpt: openai.OpenAI, tasks_gateway: TasksGateway
) -> None:
    text = unique("[[delay 4000]] deleted with a hook")
    with receiving(failures=1) as receiver:  # retried: the body outlives a failed attempt
        created = gpt.responses.create(
            model="gpt-5-mini",
            input=text,
            background=True,
            extra_body={"callback_url": receiver.url},
        )
        while gpt.responses.retrieve(created.id).status != "in_progress":
            time.sleep(0.05)
        gpt.responses.delete(created.id)
        assert tasks_gateway.get(created.id).status_code == 404  # deleted with the response
        assert receiver.received.wait(20), receiver.calls
    (first, _, _), (headers, body, _) = receiver.calls
    assert headers["webhook-id"] == first["webhook-id"]
    assert verify_signature(WEBHOOK_KEY, headers, body)
    delivered = json.loads(body)
    assert (delivered["id"], delivered["status"]) == (created.id, "cancelled")
    assert "result" not in delivered and text not in body.decode()  # none of its content


@pytest.mark.parametrize("model", ["gpt-5-mini", "gpt-4o-mini"])
def test_a_callback_url_without_background_is_a_400_on_responses(
    gpt: openai.OpenAI, emulator: Emulator, model: str
) -> None:
    text = unique("no background")
    for extra in ({"callback_url": "http://127.0.0.1:9/hook"}, {"webhook_url": "http://a.b/c"}):
        with pytest.raises(openai.BadRequestError) as bad:
            gpt.responses.create(model=model, input=text, extra_body=extra)
        assert bad.value.param == "callback_url" and "background: true" in bad.value.message
    assert not sent_upstream(emulator, text)
