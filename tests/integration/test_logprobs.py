"""Token logprobs through the gateway, read by the official SDK's types.

The IR carries them (TextPart.logprobs, TextDelta.logprobs), so a client asking for them
gets them from every upstream that returns them: the fast path relays the bodies; a
translated path asks the upstream in its own words (Chat `logprobs`, Responses
`include`, Gemini `responseLogprobs`) and writes what comes back in the client's shape.
Anthropic returns none: the client gets `logprobs: null` / `[]`, and a warning. The
emulator scores one token per streamed word, so the tokens join up to the text."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

TEXT = "You said: one two"
INCLUDE: Any = ["message.output_text.logprobs"]
CHAT_SCORED = ["openai", "openai-responses", "gemini"]
RESPONSES_SCORED = ["openai-responses", "openai", "gemini"]
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
ANTHROPIC_WARNING = "Anthropic does not return token logprobs"


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def _tokens(entries: list[Any] | None, top: int) -> str:
    """The entries' text, each checked to carry `top` alternatives (itself first)."""
    assert entries
    for entry in entries:
        assert len(entry.top_logprobs) == top
        assert not top or entry.top_logprobs[0].token == entry.token
    return "".join(entry.token for entry in entries)


def _chat(provider: str, top: int | None = 2) -> Any:
    messages = [{"role": "user", "content": "one two"}]
    asked = {"logprobs": True} if top is None else {"logprobs": True, "top_logprobs": top}
    return {"model": MODELS_BY_PROVIDER[provider], "messages": messages, **asked}


def _asked_upstream(provider: str, sent: dict[str, Any], top: int) -> None:
    """The upstream was asked for the tokens, in its own protocol's words."""
    if provider == "openai":
        assert sent["logprobs"] is True and sent.get("top_logprobs", 0) == top
    elif provider == "openai-responses":
        assert INCLUDE[0] in sent["include"] and sent.get("top_logprobs", 0) == top
    else:
        config = sent["generationConfig"]
        assert config["responseLogprobs"] is True and config.get("logprobs", 0) == top


@STREAM
@pytest.mark.parametrize("provider", CHAT_SCORED)
def test_chat_logprobs_come_back_from_each_upstream_that_has_them(
    client: openai.OpenAI, emulator: Emulator, provider: str, stream: bool
) -> None:
    kwargs = _chat(provider)
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
    assert logprobs.refusal is None
    assert all(entry.bytes == list(entry.token.encode()) for entry in logprobs.content or ())
    _asked_upstream(provider, emulator.last()["body"], 2)


@pytest.mark.parametrize("provider", ["openai-responses", "gemini"])
def test_chat_logprobs_without_alternatives(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    reply = client.chat.completions.with_raw_response.create(**_chat(provider, top=None))
    logprobs = reply.parse().choices[0].logprobs
    assert logprobs is not None and _tokens(logprobs.content, 0) == TEXT
    assert "logprobs" not in reply.headers.get("polyrelay-warnings", "")
    _asked_upstream(provider, emulator.last()["body"], 0)


@STREAM
def test_chat_logprobs_from_anthropic_are_null_with_a_warning(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    kwargs = _chat("anthropic")
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
    assert ANTHROPIC_WARNING in warnings
    assert not {"logprobs", "top_logprobs"} & set(emulator.last()["body"])


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"top_logprobs": 2}, "'logprobs' must be set to true"),
        ({"logprobs": True, "top_logprobs": 21}, "greater than the maximum of 20"),
    ],
    ids=["without-logprobs", "above-20"],
)
def test_chat_top_logprobs_is_checked_as_openai_checks_it(
    client: openai.OpenAI, fields: dict[str, Any], said: str
) -> None:
    messages: Any = [{"role": "user", "content": "one two"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODELS_BY_PROVIDER["gemini"], messages=messages, **fields
        )
    assert raised.value.body["param"] == "top_logprobs"  # type: ignore[index]
    assert said in raised.value.message


@STREAM
@pytest.mark.parametrize("provider", RESPONSES_SCORED)
def test_responses_logprobs_come_back_from_each_upstream_that_has_them(
    client: openai.OpenAI, emulator: Emulator, provider: str, stream: bool
) -> None:
    kwargs: Any = {"model": MODELS_BY_PROVIDER[provider], "input": "one two"}
    kwargs |= {"include": INCLUDE, "top_logprobs": 2}
    if stream:
        with client.responses.stream(**kwargs) as events:
            seen = list(events)
            final = events.get_final_response()
        deltas = [e for e in seen if e.type == "response.output_text.delta"]
        assert deltas and all(_tokens(e.logprobs, 2) == e.delta for e in deltas)
        (done,) = [e for e in seen if e.type == "response.output_text.done"]
        assert _tokens(done.logprobs, 2) == TEXT
    else:
        final = client.responses.create(**kwargs)
    (part,) = final.output[-1].content  # type: ignore[union-attr]
    assert part.type == "output_text" and _tokens(part.logprobs, 2) == TEXT
    assert all(entry.bytes == list(entry.token.encode()) for entry in part.logprobs or ())
    _asked_upstream(provider, emulator.last()["body"], 2)


def test_responses_logprobs_from_anthropic_are_empty_with_a_warning(
    gateway: Gateway, api_key: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER["anthropic"], "input": "one two"}
    body |= {"include": INCLUDE, "top_logprobs": 2}
    reply = httpx.post(
        f"{gateway.url}/v1/responses", json=body, headers={"authorization": f"Bearer {api_key}"}
    )
    assert reply.status_code == 200
    assert ANTHROPIC_WARNING in reply.headers.get("polyrelay-warnings", "")
    assert reply.json()["output"][-1]["content"][0]["logprobs"] == []


def test_responses_top_logprobs_alone_asks_for_none(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """As at OpenAI, `top_logprobs` without the include entry returns no tokens."""
    body = {"model": MODELS_BY_PROVIDER["gemini"], "input": "one two", "top_logprobs": 2}
    reply = httpx.post(
        f"{gateway.url}/v1/responses", json=body, headers={"authorization": f"Bearer {api_key}"}
    )
    assert reply.status_code == 200
    assert "logprobs" not in reply.headers.get("polyrelay-warnings", "")
    assert reply.json()["output"][-1]["content"][0]["logprobs"] == []
    assert "responseLogprobs" not in emulator.last()["body"].get("generationConfig", {})
