"""Token logprobs on OpenAI's two protocols, shaped as the API sends them: validated
strictly against the SDK's own models, plain and streamed."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

INCLUDE: Any = ["message.output_text.logprobs"]


def _check_tokens(entries: list[Any], text: str, top: int) -> None:
    """Tokens that join to the text, each with its bytes and `top` alternatives, the
    likeliest being the token itself."""
    assert "".join(entry.token for entry in entries) == text
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == top
        if top:
            assert entry.top_logprobs[0].token == entry.token
            assert entry.top_logprobs[0].logprob == entry.logprob
            logprobs = [alternative.logprob for alternative in entry.top_logprobs]
            assert logprobs == sorted(logprobs, reverse=True)


def test_chat_logprobs(base_url):
    body = {"model": "m", "messages": [{"role": "user", "content": "one two"}]}
    body |= {"logprobs": True, "top_logprobs": 3}
    raw = httpx.post(f"{base_url}/v1/chat/completions", json=body).json()
    choice = ChatCompletion.model_validate(raw, strict=True).choices[0]
    assert choice.logprobs is not None and choice.logprobs.refusal is None
    content = choice.logprobs.content or []
    _check_tokens(content, "You said: one two", 3)
    assert all(entry.bytes == list(entry.token.encode()) for entry in content)
    assert set(raw["choices"][0]["logprobs"]["content"][0]) == {
        "token", "logprob", "bytes", "top_logprobs",
    }  # fmt: skip


def test_chat_logprobs_streamed(base_url):
    body = {"model": "m", "messages": [{"role": "user", "content": "one two"}], "stream": True}
    body |= {"logprobs": True, "top_logprobs": 2}
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body) as reply:
        lines = [line[6:] for line in reply.iter_lines() if line.startswith("data: {")]
    chunks = [ChatCompletionChunk.model_validate_json(line, strict=True) for line in lines]
    with_text = [chunk.choices[0] for chunk in chunks if chunk.choices[0].delta.content]
    assert "".join(choice.delta.content or "" for choice in with_text) == "You said: one two"
    for choice in with_text:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        _check_tokens(choice.logprobs.content, choice.delta.content or "", 2)


def test_chat_without_logprobs_has_none(openai_client):
    completion = openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].logprobs is None
    with openai_client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}], logprobs=True
    ) as stream:
        final = stream.get_final_completion()
    # The SDK's stream helper gathers the chunks' logprobs; no top_logprobs: none listed.
    assert final.choices[0].logprobs is not None
    _check_tokens(final.choices[0].logprobs.content or [], "You said: hi", 0)


@pytest.mark.parametrize("extra", [{"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}])
def test_chat_invalid_top_logprobs_is_a_400(openai_client, extra):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], **extra
        )
    assert caught.value.param == "top_logprobs"


def test_responses_logprobs(base_url):
    body = {"model": "m", "input": "one two", "include": INCLUDE, "top_logprobs": 2}
    raw = httpx.post(f"{base_url}/v1/responses", json=body).json()
    response = Response.model_validate(raw, strict=True)
    (part,) = response.output[0].content  # type: ignore[union-attr]
    assert part.type == "output_text" and part.logprobs is not None
    _check_tokens(part.logprobs, "You said: one two", 2)
    assert all(entry.bytes == list(entry.token.encode()) for entry in part.logprobs)


def test_responses_logprobs_streamed(base_url):
    body = {"model": "m", "input": "one two", "include": INCLUDE, "top_logprobs": 1}
    with httpx.stream("POST", f"{base_url}/v1/responses", json={**body, "stream": True}) as r:
        lines = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    adapter: Any = pydantic.TypeAdapter(ResponseStreamEvent)
    events = [adapter.validate_json(line, strict=True) for line in lines]
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    for event in deltas:
        _check_tokens(event.logprobs, event.delta, 1)
    (done,) = [event for event in events if event.type == "response.output_text.done"]
    _check_tokens(done.logprobs, "You said: one two", 1)
    final = events[-1].response
    _check_tokens(final.output[0].content[0].logprobs, "You said: one two", 1)


def test_responses_without_include_has_no_logprobs(openai_client):
    with openai_client.responses.stream(model="m", input="hi", top_logprobs=3) as stream:
        deltas = [event for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas and all(event.logprobs == [] for event in deltas)
    assert final.output[0].content[0].logprobs is None  # type: ignore[union-attr]


GEMINI_MODEL = "gemini-2.5-flash"


def _check_gemini(result: Any, text: str, top: int) -> None:
    """A google-genai LogprobsResult: one chosen token per word, joining to the text, with
    `top` candidates per step (the chosen one first)."""
    chosen = result.chosen_candidates
    assert "".join(candidate.token for candidate in chosen) == text
    assert all(candidate.log_probability <= 0 and candidate.token_id for candidate in chosen)
    if not top:
        assert not result.top_candidates
        return
    assert len(result.top_candidates) == len(chosen)
    for candidate, step in zip(chosen, result.top_candidates, strict=True):
        assert len(step.candidates) == top and step.candidates[0].token == candidate.token


@pytest.mark.parametrize("top", [0, 3])
def test_gemini_logprobs(genai_client, top):
    from google.genai import types

    config = types.GenerateContentConfig(response_logprobs=True, logprobs=top or None)
    response = genai_client.models.generate_content(
        model=GEMINI_MODEL, contents="one two", config=config
    )
    _check_gemini(response.candidates[0].logprobs_result, "You said: one two", top)


def test_gemini_logprobs_streamed(genai_client):
    from google.genai import types

    config = types.GenerateContentConfig(response_logprobs=True, logprobs=2)
    chunks = list(
        genai_client.models.generate_content_stream(
            model=GEMINI_MODEL, contents="one two", config=config
        )
    )
    with_text = [chunk for chunk in chunks if chunk.text]
    assert "".join(chunk.text for chunk in with_text) == "You said: one two"
    for chunk in with_text:  # each chunk's result covers that chunk's tokens
        _check_gemini(chunk.candidates[0].logprobs_result, chunk.text, 2)


def test_gemini_without_logprobs_has_none(genai_client):
    response = genai_client.models.generate_content(model=GEMINI_MODEL, contents="hi")
    assert response.candidates[0].logprobs_result is None


@pytest.mark.parametrize("config", [{"logprobs": 2}, {"responseLogprobs": True, "logprobs": 21}])
def test_gemini_invalid_logprobs_is_a_400(base_url, config):
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}
    reply = httpx.post(f"{base_url}/v1beta/models/{GEMINI_MODEL}:generateContent", json=body)
    assert reply.status_code == 400 and "logprobs" in reply.json()["error"]["message"]
