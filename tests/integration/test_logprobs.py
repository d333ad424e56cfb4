"""Token logprobs through the gateway. The IR has no room for them (translation.md §10:
"not in A ... drop them, return logprobs: null"), so they arrive only where the client's
own protocol meets the same upstream protocol (the fast path, which relays the bodies);
on every translated path the gateway drops them and says so in `polyrelay-warnings`."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

TEXT = "You said: one two"
INCLUDE: Any = ["message.output_text.logprobs"]
CHAT_TRANSLATED = ["openai-responses", "anthropic", "gemini"]
RESPONSES_TRANSLATED = ["openai", "anthropic", "gemini"]


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def _tokens(entries: list[Any] | None, top: int) -> str:
    """The entries' text, each checked to carry `top` alternatives (itself first)."""
    assert entries
    for entry in entries:
        assert len(entry.top_logprobs) == top and entry.top_logprobs[0].token == entry.token
    return "".join(entry.token for entry in entries)


def _chat(top: int = 2, **extra: Any) -> Any:
    messages = [{"role": "user", "content": "one two"}]
    return {"messages": messages, "logprobs": True, "top_logprobs": top, **extra}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_chat_logprobs_come_back_from_an_openai_upstream(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    kwargs = _chat(model=MODELS_BY_PROVIDER["openai"])
    if stream:
        with client.chat.completions.stream(**kwargs) as events:
            chunks = [e.chunk for e in events if e.type == "chunk"]
            final = events.get_final_completion()
        texts = [c.choices[0] for c in chunks if c.choices and c.choices[0].delta.content]
        # Every content chunk carries its own tokens, as OpenAI streams them.
        for choice in texts:
            assert choice.logprobs is not None
            assert _tokens(choice.logprobs.content, 2) == choice.delta.content
    else:
        final = client.chat.completions.create(**kwargs)
    logprobs = final.choices[0].logprobs
    assert logprobs is not None and _tokens(logprobs.content, 2) == TEXT
    sent = emulator.last()["body"]
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", CHAT_TRANSLATED)
def test_chat_logprobs_on_a_translated_path_are_dropped_with_a_warning(
    client: openai.OpenAI, emulator: Emulator, provider: str, stream: bool
) -> None:
    kwargs = _chat(model=MODELS_BY_PROVIDER[provider])
    if stream:
        with client.chat.completions.with_streaming_response.create(**kwargs, stream=True) as raw:
            warnings = raw.headers.get("polyrelay-warnings", "")
            body = raw.read().decode()
        assert '"logprobs":null' in body and '"logprobs":{' not in body
    else:
        raw_reply = client.chat.completions.with_raw_response.create(**kwargs)
        warnings = raw_reply.headers.get("polyrelay-warnings", "")
        assert raw_reply.parse().choices[0].message.content == TEXT
        assert raw_reply.parse().choices[0].logprobs is None
    assert "logprobs is not supported" in warnings
    assert "top_logprobs is not supported" in warnings
    sent = emulator.last()["body"]
    assert not {"logprobs", "top_logprobs"} & set(sent)
    # gpt-5's reasoning is asked for (to carry it to the next turn), its logprobs never
    assert not set(INCLUDE) & set(sent.get("include", ()))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_responses_logprobs_come_back_from_a_responses_upstream(
    client: openai.OpenAI, stream: bool
) -> None:
    kwargs: Any = {"model": MODELS_BY_PROVIDER["openai-responses"], "input": "one two"}
    kwargs |= {"include": INCLUDE, "top_logprobs": 2}
    if stream:
        with client.responses.stream(**kwargs) as events:
            deltas = [e for e in events if e.type == "response.output_text.delta"]
            final = events.get_final_response()
        assert deltas and all(_tokens(e.logprobs, 2) == e.delta for e in deltas)
    else:
        final = client.responses.create(**kwargs)
    (part,) = final.output[-1].content  # type: ignore[union-attr]
    assert part.type == "output_text" and _tokens(part.logprobs, 2) == TEXT


@pytest.mark.parametrize("provider", RESPONSES_TRANSLATED)
def test_responses_top_logprobs_on_a_translated_path_warn(
    gateway: Gateway, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "input": "one two"}
    body |= {"include": INCLUDE, "top_logprobs": 2}
    reply = httpx.post(
        f"{gateway.url}/v1/responses", json=body, headers={"authorization": f"Bearer {api_key}"}
    )
    assert reply.status_code == 200
    assert "top_logprobs is not supported" in reply.headers.get("polyrelay-warnings", "")
    assert reply.json()["output"][-1]["content"][0]["logprobs"] == []


@pytest.mark.parametrize("provider", RESPONSES_TRANSLATED)
def test_responses_include_logprobs_on_a_translated_path_warn(
    gateway: Gateway, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "input": "one two", "include": INCLUDE}
    reply = httpx.post(
        f"{gateway.url}/v1/responses", json=body, headers={"authorization": f"Bearer {api_key}"}
    )
    assert reply.status_code == 200
    assert "logprobs" in reply.headers.get("polyrelay-warnings", "")
