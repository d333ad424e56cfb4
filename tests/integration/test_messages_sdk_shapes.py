"""The Messages side as the anthropic SDK's own types see it: every object the gateway
writes validates against them (required fields present even when 0), on every upstream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from anthropic.types import Message, ModelInfo, RawMessageStartEvent

from tests.integration.conftest import Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)


def headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "anthropic-version": "2023-06-01"}


def post(gateway: Gateway, api_key: str, body: Any) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/messages", json=body, headers=headers(api_key), timeout=30)


def stream_events(gateway: Gateway, api_key: str, body: Any) -> list[Any]:
    body = {**body, "stream": True}
    with httpx.stream(
        "POST", gateway.url + "/v1/messages", json=body, headers=headers(api_key), timeout=30
    ) as response:
        assert response.status_code == 200
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_message_start_usage_validates(gateway: Gateway, api_key: str, provider: str) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "max_tokens": 50, "messages": "Hello"}
    start = stream_events(gateway, api_key, body)[0]
    assert start["type"] == "message_start"
    usage = start["message"]["usage"]
    assert isinstance(usage["input_tokens"], int) and usage["output_tokens"] >= 0
    RawMessageStartEvent.model_validate(start)  # raises on a missing required field


@pytest.mark.parametrize("provider", PROVIDERS)
def test_zero_output_reply_writes_output_tokens(
    gateway: Gateway, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "max_tokens": 50, "messages": "[[words 0]]"}
    response = post(gateway, api_key, body)
    assert response.status_code == 200
    usage = response.json()["usage"]
    assert usage["output_tokens"] == 0 and usage["input_tokens"] > 0
    Message.model_validate(response.json())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_prefill_is_warned_where_it_is_not_continued(
    gateway: Gateway, api_key: str, provider: str
) -> None:
    messages = [
        {"role": "user", "content": "answer in JSON"},
        {"role": "assistant", "content": '{"answer":'},
    ]
    body = {"model": MODELS_BY_PROVIDER[provider], "max_tokens": 50, "messages": messages}
    response = post(gateway, api_key, body)
    assert response.status_code == 200, response.text
    warned = "assistant prefill" in response.headers.get("polyrelay-warnings", "")
    assert warned == (provider in ("openai", "openai-responses"))


def test_models_validate_as_model_info(gateway: Gateway, api_key: str) -> None:
    listed = httpx.get(gateway.url + "/v1/models?limit=100", headers=headers(api_key)).json()
    models = {m["id"]: ModelInfo.model_validate(m) for m in listed["data"]}
    claude = models["claude-sonnet-4-5"]
    assert claude.lifecycle == "active" and claude.max_tokens == 64000  # max_output_tokens
    one = httpx.get(gateway.url + "/v1/models/gpt-4o-mini", headers=headers(api_key)).json()
    ModelInfo.model_validate(one)


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", "/v1/models", True, 200),
        ("GET", "/v1/models/nope", True, 404),
        ("GET", "/v1/models", False, 401),
        ("GET", "/v1/messages/batches", True, 200),
        ("GET", "/v1/messages/batches/msgbatch_nope", True, 404),
        ("POST", "/v1/messages/batches", True, 400),
    ],
)
def test_request_id_on_models_and_batches(
    gateway: Gateway, api_key: str, method: str, path: str, key: bool, status: int
) -> None:
    sent = headers(api_key if key else "sk-wrong")
    response = httpx.request(method, gateway.url + path, headers=sent, json={}, timeout=30)
    assert response.status_code == status
    assert response.headers["request-id"].startswith("req_")
