"""A max_tokens past a real model's output limit is refused as each provider refuses it
(emulator/output_limits.py); a name the emulator does not know as a real model's is not."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

HI = [{"role": "user", "content": "hi"}]


def test_chat_max_completion_tokens_past_o4_mini_s_limit(openai_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.chat.completions.create(
            model="o4-mini", max_completion_tokens=100001, messages=HI
        )
    error = refused.value.body
    assert error["message"] == (
        "max_completion_tokens is too large: 100001. This model supports at most 100000"
        " completion tokens, whereas you provided 100001."
    )
    assert (error["param"], error["code"]) == ("max_completion_tokens", "invalid_value")


def test_responses_max_output_tokens_past_gpt_4_1_s_limit(openai_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=40000)
    assert refused.value.body["param"] == "max_output_tokens"
    assert "supports at most 32768" in refused.value.body["message"]


def test_anthropic_max_tokens_past_sonnet_4_5_s_limit(anthropic_client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client.messages.create(
            model="claude-sonnet-4-5", max_tokens=200000, messages=HI, stream=True
        )
    assert refused.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: 200000 > 64000, which is the maximum allowed number of"
        " output tokens for claude-sonnet-4-5",
    }


def test_gemini_max_output_tokens_past_2_0_flash_s_limit(base_url: str) -> None:
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 8193},
    }
    response = httpx.post(
        f"{base_url}/v1beta/models/gemini-2.0-flash:generateContent",
        json=body,
        headers={"x-goog-api-key": "k"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "maxOutputTokens value of 8193" in response.json()["error"]["message"]
    assert "from 1 (inclusive) to 8193 (exclusive)" in response.json()["error"]["message"]


def test_a_model_it_does_not_know_has_no_limit(openai_client: Any) -> None:
    reply = openai_client.chat.completions.create(
        model="qwen2.5:0.5b", max_tokens=10**6, messages=HI
    )
    assert reply.choices[0].message.content
