"""An upstream's 429 reaches the client with the upstream's rate-limit headers
(`x-ratelimit-*`, `anthropic-ratelimit-*`, `retry-after-ms`) beside `retry-after`, on the
fast path and translated: clients that pace themselves read them. Official SDKs → a real
gateway → an upstream that refuses every call with a 429 in its own protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving
from tests.integration.servers import STATIC_KEY

OPENAI_LIMITS = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-remaining-tokens": "0",
}
ANTHROPIC_LIMITS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2026-12-05T10:00:00Z",
}
COMMON = {"retry-after": "0", "retry-after-ms": "120"}


def refuse(path: str, body: bytes) -> Answer:
    """Every call: a 429 in the protocol of its path, with that provider's limits."""
    if path.endswith("/messages"):
        error: Any = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
        return json_answer(error, 429, **ANTHROPIC_LIMITS, **COMMON)
    error = {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}}
    return json_answer(error, 429, **OPENAI_LIMITS, **COMMON)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        refuse,
        tmp_path_factory.mktemp("rate-limits"),
        {"chat": "openai", "messages": "anthropic"},
        {"u-chat": "provider: chat, model: up", "u-messages": "provider: messages, model: up"},
    )


def _limits(headers: Any, expected: dict[str, str]) -> dict[str, str]:
    return {name: headers.get(name) for name in {**expected, **COMMON}}


@pytest.mark.parametrize("model", ["u-chat", "u-messages"])
def test_a_chat_client_gets_the_upstreams_rate_limit_headers(gateway: Gateway, model: str) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    expected = OPENAI_LIMITS if model == "u-chat" else ANTHROPIC_LIMITS
    assert _limits(error.value.response.headers, expected) == {**expected, **COMMON}


@pytest.mark.parametrize("model", ["u-chat", "u-messages"])
def test_a_messages_client_gets_the_upstreams_rate_limit_headers(
    gateway: Gateway, model: str
) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as error:
        client.messages.create(
            model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    expected = OPENAI_LIMITS if model == "u-chat" else ANTHROPIC_LIMITS
    assert _limits(error.value.response.headers, expected) == {**expected, **COMMON}
