"""The Messages side as the anthropic SDK's own types see it: every object the gateway
writes validates against them (required fields present even when 0), on every upstream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from anthropic.types import Message, RawMessageStartEvent

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
