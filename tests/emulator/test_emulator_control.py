"""The emulator's own surface: request log, masking, cancellation, mounting, models, pacing."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import Mount

from polyrelay.emulator import create_emulator_app
from polyrelay.emulator.state import RequestLog


def wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_root_answers_get_and_head(base_url):
    assert httpx.get(base_url + "/").status_code == 200
    assert httpx.head(base_url + "/").status_code == 200


def test_request_log_records_and_masks_credentials(emulator, openai_client, anthropic_client):
    httpx.delete(f"{emulator.base_url}/_emulator/requests")
    openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "logged"}]
    )
    anthropic_client.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "also logged"}]
    )
    httpx.post(
        f"{emulator.base_url}/v1beta/models/x:generateContent?key=secret-key",
        json={"contents": [{"parts": [{"text": "q"}]}]},
    )
    chat, messages, gemini = emulator.requests()
    assert chat["method"] == "POST"
    assert chat["path"] == "/v1/chat/completions"
    assert chat["body"]["messages"][0]["content"] == "logged"
    assert chat["headers"]["authorization"] == "***"
    assert chat["cancelled"] is False
    assert messages["headers"].get("x-api-key", messages["headers"].get("authorization")) == "***"
    assert "sk-test" not in str(emulator.requests())
    assert gemini["query"] == "key=***"


def test_delete_clears_the_log_and_bad_json_is_logged_as_null(emulator):
    httpx.post(f"{emulator.base_url}/v1/chat/completions", content=b"{not json")
    assert emulator.last_request()["body"] is None
    assert httpx.delete(f"{emulator.base_url}/_emulator/requests").status_code == 200
    assert emulator.requests() == []


def test_bad_json_gets_provider_error(base_url):
    response = httpx.post(f"{base_url}/v1/messages", content=b"[1, 2]")
    assert response.status_code == 400
    assert response.json()["type"] == "error"


def test_client_disconnect_marks_the_request_cancelled(paced_emulator):
    httpx.delete(f"{paced_emulator.base_url}/_emulator/requests")
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "[[words 200]]"}],
    }
    with httpx.stream(
        "POST", f"{paced_emulator.base_url}/v1/chat/completions", json=body
    ) as response:
        next(response.iter_raw())
    assert wait_until(lambda: paced_emulator.last_request()["cancelled"] is True)


def test_disconnect_from_a_long_unpaced_stream_is_noticed(emulator):
    httpx.delete(f"{emulator.base_url}/_emulator/requests")
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "[[words 50000]]"}],
    }
    with httpx.stream("POST", f"{emulator.base_url}/v1/chat/completions", json=body) as response:
        next(response.iter_raw())
    assert wait_until(lambda: emulator.last_request()["cancelled"] is True)


def test_disconnect_during_delay_marks_cancelled(emulator):
    httpx.delete(f"{emulator.base_url}/_emulator/requests")
    body = {"model": "m", "messages": [{"role": "user", "content": "[[delay 3000]] slow"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{emulator.base_url}/v1/chat/completions", json=body, timeout=0.3)
    assert wait_until(lambda: emulator.last_request()["cancelled"] is True)


def test_completed_stream_is_not_cancelled(emulator, openai_client):
    list(
        openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "fine"}], stream=True
        )
    )
    assert emulator.last_request()["cancelled"] is False


def test_delay_directive_waits(openai_client):
    started = time.monotonic()
    openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "[[delay 200]] hi"}]
    )
    assert time.monotonic() - started >= 0.2


def test_tokens_per_second_paces_the_stream(paced_emulator):
    client = openai.OpenAI(api_key="k", base_url=f"{paced_emulator.base_url}/v1", max_retries=0)
    started = time.monotonic()
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "[[words 11]]"}], stream=True
        )
    )
    elapsed = time.monotonic() - started
    assert sum(1 for chunk in chunks if chunk.choices and chunk.choices[0].delta.content) == 11
    assert 0.18 <= elapsed < 2  # 11 words at 50/s: 10 gaps of 20 ms


def test_once_error_for_openai(openai_client, unique):
    prompt = [{"role": "user", "content": unique("[[error 503 once]] hello")}]
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="m", messages=prompt)
    assert openai_client.chat.completions.create(model="m", messages=prompt).choices


def test_openai_models_list(openai_client):
    ids = [model.id for model in openai_client.models.list()]
    assert {
        "gpt-4o-mini",
        "gpt-5-mini",
        "claude-opus-4-6",
        "claude-sonnet-4-5",
        "gemini-2.5-flash",
    } <= set(ids)
    assert openai_client.models.retrieve("gpt-5-mini").id == "gpt-5-mini"


def test_works_mounted_under_a_prefix(emulator_server_class):
    outer = Starlette(routes=[Mount("/_upstream/emulator", app=create_emulator_app())])
    server = emulator_server_class(app=outer).start()
    try:
        base = f"{server.base_url}/_upstream/emulator"
        client = openai.OpenAI(api_key="k", base_url=f"{base}/v1", max_retries=0)
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "mounted"}]
        )
        assert completion.choices[0].message.content == "You said: mounted"
        log = httpx.get(f"{base}/_emulator/requests").json()["requests"]
        assert log[-1]["path"] == "/v1/chat/completions"
    finally:
        server.stop()


def test_log_is_bounded():
    app = create_emulator_app()
    log = app.state.emulator.log
    headers = Headers(headers={"authorization": "Bearer x"})
    for number in range(1005):
        log.record("POST", "/v1/messages", "", headers, {"n": number})
    assert len(log) == 1000


def test_log_is_bounded_by_the_size_of_its_bodies():
    log = RequestLog(capacity=1000, max_bytes=100)
    headers = Headers(headers={})
    for number in range(5):
        log.record("POST", "/v1/messages", "", headers, {"n": number}, size=40)
    assert [r["body"]["n"] for r in json.loads(log.to_json())["requests"]] == [3, 4]
    log.record("POST", "/v1/messages", "", headers, {"n": 5}, size=500)  # the newest stays
    assert len(log) == 1
    log.clear()
    log.record("POST", "/v1/messages", "", headers, {"n": 6}, size=60)
    assert len(log) == 1


def test_the_log_counts_each_body_as_sent(emulator_server_class):
    """A gateway's embedded emulator logs its clients' bodies: large ones are not kept a
    thousand at a time (the app gives the log each body's size)."""
    app = create_emulator_app()
    app.state.emulator.log = RequestLog(max_bytes=3000)
    server = emulator_server_class(app=app).start()
    try:
        for number in range(4):
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": f"{number} " + "x" * 1000}],
            }
            httpx.post(f"{server.base_url}/v1/chat/completions", json=body).raise_for_status()
        log = httpx.get(f"{server.base_url}/_emulator/requests").json()["requests"]
        assert [r["body"]["messages"][0]["content"][0] for r in log] == ["2", "3"]
    finally:
        server.stop()
