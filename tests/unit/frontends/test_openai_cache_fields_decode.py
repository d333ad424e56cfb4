"""The OpenAI frontends keep prompt_cache_key, safety_identifier, client_metadata and the
client's own `user` in `ChatRequest.extensions` (`openai.*`), so a request that leaves the
fast path still sends them to an OpenAI upstream; and the include entry for logprobs is
carried (ChatRequest.logprobs), not warned about."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.ir import ChatRequest
from polyrelay.ir.request import (
    OPENAI_CLIENT_METADATA,
    OPENAI_PROMPT_CACHE_KEY,
    OPENAI_SAFETY_IDENTIFIER,
    OPENAI_USER,
)

from .openai_responses.conftest import SAMPLES

RESPONSES = OpenAIResponsesFrontend()
CHAT = OpenAIChatFrontend()
HI = [{"role": "user", "content": "hi"}]


def responses(body: dict[str, Any], ctx: RequestContext | None = None) -> ChatRequest:
    request, _ = RESPONSES.decode_with_options(encode(body), ctx or RequestContext())
    return request


def chat(body: dict[str, Any], ctx: RequestContext | None = None) -> ChatRequest:
    return CHAT.decode(encode({"model": "m", "messages": HI, **body}), ctx or RequestContext())


def test_codex_request_keeps_cache_key_and_client_metadata() -> None:
    body = json.loads((SAMPLES / "codex_responses_first_turn.json").read_text())["body"]
    ctx = RequestContext()
    request = responses(body, ctx)
    assert request.extensions[OPENAI_PROMPT_CACHE_KEY] == body["prompt_cache_key"]
    assert request.extensions[OPENAI_CLIENT_METADATA] == body["client_metadata"]
    assert OPENAI_SAFETY_IDENTIFIER not in request.extensions
    assert not any("prompt_cache_key" in w or "client_metadata" in w for w in ctx.warnings)
    ctx.translating()
    assert not any("prompt_cache_key" in w or "client_metadata" in w for w in ctx.warnings)


def test_responses_without_them_has_no_extensions() -> None:
    assert responses({"model": "m", "input": "hi", "user": "u"}).extensions == {}


def test_responses_safety_identifier_alone() -> None:
    request = responses({"model": "m", "input": "hi", "safety_identifier": "s"})
    assert request.user == "s"  # the one end-user id of upstreams with a single field
    assert request.extensions == {OPENAI_SAFETY_IDENTIFIER: "s", OPENAI_USER: None}


def test_responses_safety_identifier_and_user_warn_once_translated() -> None:
    ctx = RequestContext()
    request = responses({"model": "m", "input": "hi", "safety_identifier": "s", "user": "u"}, ctx)
    assert request.user == "u"
    assert request.extensions == {OPENAI_SAFETY_IDENTIFIER: "s", OPENAI_USER: "u"}
    assert list(ctx.warnings) == []
    ctx.translating()
    assert list(ctx.warnings) == [
        "with user also set, safety_identifier reaches only OpenAI upstreams"
    ]


@pytest.mark.parametrize("top_logprobs", [None, 2])
def test_responses_include_logprobs_is_carried(top_logprobs: int | None) -> None:
    ctx = RequestContext()
    body: dict[str, Any] = {"model": "m", "input": "hi"}
    body["include"] = ["reasoning.encrypted_content", "message.output_text.logprobs"]
    if top_logprobs is not None:
        body["top_logprobs"] = top_logprobs
    request = responses(body, ctx)
    ctx.translating()
    assert list(ctx.warnings) == []
    assert request.logprobs == (top_logprobs or 0)


def test_responses_other_include_entries_do_not_warn() -> None:
    ctx = RequestContext()
    responses({"model": "m", "input": "hi", "include": ["reasoning.encrypted_content"]}, ctx)
    ctx.translating()
    assert list(ctx.warnings) == []


def test_chat_cache_key_and_safety_identifier_are_kept_without_warning() -> None:
    ctx = RequestContext()
    request = chat({"prompt_cache_key": "k", "safety_identifier": "s"}, ctx)
    assert request.user == "s"
    assert request.extensions == {
        OPENAI_PROMPT_CACHE_KEY: "k",
        OPENAI_SAFETY_IDENTIFIER: "s",
        OPENAI_USER: None,
    }
    ctx.translating()
    assert list(ctx.warnings) == []


def test_chat_without_them_has_no_extensions() -> None:
    assert chat({"user": "u"}).extensions == {}


def test_chat_cache_key_that_is_not_a_string_is_warned() -> None:
    ctx = RequestContext()
    assert chat({"prompt_cache_key": 5}, ctx).extensions == {}
    ctx.translating()
    assert list(ctx.warnings) == ["prompt_cache_key is not a string; ignored"]


def test_chat_user_and_safety_identifier() -> None:
    ctx = RequestContext()
    request = chat({"user": "u", "safety_identifier": "s"}, ctx)
    assert request.user == "u"
    assert request.extensions == {OPENAI_SAFETY_IDENTIFIER: "s", OPENAI_USER: "u"}
    ctx.translating()
    assert list(ctx.warnings) == [
        "with user also set, safety_identifier reaches only OpenAI upstreams"
    ]
