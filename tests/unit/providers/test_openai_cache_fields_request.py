"""The OpenAI providers send what an OpenAI client kept in `ChatRequest.extensions`
(`openai.*`): prompt_cache_key, safety_identifier, the client's own `user`, and, to a
Responses upstream, client_metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import ChatRequest, Message, Role, TextPart
from polyrelay.ir.request import (
    OPENAI_CLIENT_METADATA,
    OPENAI_PROMPT_CACHE_KEY,
    OPENAI_SAFETY_IDENTIFIER,
    OPENAI_USER,
)
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

HI = (Message(role=Role.USER, parts=(TextPart(text="hi"),)),)
CODEX = {
    OPENAI_PROMPT_CACHE_KEY: "k",
    OPENAI_CLIENT_METADATA: {"session_id": "s1"},
    OPENAI_SAFETY_IDENTIFIER: "s",
    OPENAI_USER: "u",
}
FIELDS = ("prompt_cache_key", "client_metadata", "safety_identifier", "user")


def responses(request: ChatRequest) -> dict[str, Any]:
    up = OpenAIResponsesProvider().build_request(
        request, route("openai-responses"), RequestContext()
    )
    body: dict[str, Any] = json.loads(up.body)
    return body


def chat(request: ChatRequest) -> dict[str, Any]:
    up = OpenAIChatProvider().build_request(request, route("openai"), RequestContext())
    body: dict[str, Any] = json.loads(up.body)
    return body


def test_responses_upstream_gets_them_all() -> None:
    body = responses(ChatRequest(model="m", messages=HI, user="u", extensions=CODEX))
    assert {k: body.get(k) for k in FIELDS} == {
        "prompt_cache_key": "k",
        "client_metadata": {"session_id": "s1"},
        "safety_identifier": "s",
        "user": "u",
    }


def test_chat_upstream_gets_all_but_client_metadata() -> None:
    body = chat(ChatRequest(model="m", messages=HI, user="u", extensions=CODEX))
    assert body["prompt_cache_key"] == "k"
    assert body["safety_identifier"] == "s"
    assert body["user"] == "u"
    assert "client_metadata" not in body  # Chat Completions has no such field


@pytest.mark.parametrize("build", [responses, chat], ids=["responses", "chat"])
def test_safety_identifier_alone_is_not_sent_as_user(build: Any) -> None:
    # The frontend set the IR user from it for single-id upstreams; OpenAI has both.
    ext = {OPENAI_SAFETY_IDENTIFIER: "s", OPENAI_USER: None}
    body = build(ChatRequest(model="m", messages=HI, user="s", extensions=ext))
    assert body["safety_identifier"] == "s" and "user" not in body


@pytest.mark.parametrize("build", [responses, chat], ids=["responses", "chat"])
def test_without_extensions_only_the_ir_user(build: Any) -> None:
    # An Anthropic client's metadata.user_id, say: no OpenAI fields to add.
    body = build(ChatRequest(model="m", messages=HI, user="u"))
    assert body["user"] == "u"
    assert not {"prompt_cache_key", "client_metadata", "safety_identifier"} & set(body)


@pytest.mark.parametrize("build", [responses, chat], ids=["responses", "chat"])
def test_another_providers_extensions_add_nothing(build: Any) -> None:
    body = build(ChatRequest(model="m", messages=HI, extensions={"anthropic.service_tier": "x"}))
    assert not set(FIELDS) & set(body)
