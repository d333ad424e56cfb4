"""prompt_cache_key, client_metadata, safety_identifier and user on translated paths: what
the upstream received. Codex sends prompt_cache_key and client_metadata on every Responses
request; one with the `web_search` tool leaves the fast path (the gateway runs the search)
and once reached OpenAI without them, losing the prompt-cache affinity of every turn."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER
from tests.integration.web_search_support import search_gateway  # noqa: F401

SEARCH = '[[tool web_search {"query": "relay guide"}]]'
CODEX_TOOL: Any = {"type": "web_search", "filters": {"allowed_domains": ["example.com"]}}
CACHE_KEY = "01a20561-e8bc-7271-8c74-c1e36e069729"
CLIENT_METADATA = {"session_id": CACHE_KEY, "turn_id": "01a20561-e8ee-7733"}


def _posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r["body"] for r in emulator.requests() if r["method"] == "POST"]


def _headers(api_key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_codex_request_with_web_search_keeps_its_cache_key(
    search_gateway: Gateway,  # noqa: F811
    emulator: Emulator,
    api_key: str,
    stream: bool,
) -> None:
    emulator.clear()
    body = {
        "model": MODELS_BY_PROVIDER["openai-responses"],
        "input": f"look it up {SEARCH}",
        "tools": [CODEX_TOOL],
        "store": False,
        "stream": stream,
        "prompt_cache_key": CACHE_KEY,
        "client_metadata": CLIENT_METADATA,
        "safety_identifier": "hashed-user",
        "user": "end-user-1",
    }
    reply = httpx.post(
        f"{search_gateway.url}/v1/responses", json=body, headers=_headers(api_key), timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert "web_search_call" in reply.text  # the gateway ran the search: translated
    warnings = reply.headers.get("polyrelay-warnings", "")
    assert "prompt_cache_key" not in warnings and "client_metadata" not in warnings
    # Both end-user ids: said once, as an upstream with one such field gets only `user`.
    assert "safety_identifier reaches only OpenAI upstreams" in warnings
    sent = _posts(emulator)
    assert len(sent) == 2  # the turn that asks for the search and the one that answers
    for upstream in sent:
        assert upstream["prompt_cache_key"] == CACHE_KEY
        assert upstream["client_metadata"] == CLIENT_METADATA
        assert upstream["safety_identifier"] == "hashed-user"
        assert upstream["user"] == "end-user-1"


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def test_chat_cache_key_reaches_a_responses_upstream(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.clear()
    raw = client.chat.completions.with_raw_response.create(
        model=MODELS_BY_PROVIDER["openai-responses"],
        messages=[{"role": "user", "content": "hi"}],
        prompt_cache_key=CACHE_KEY,
        safety_identifier="hashed-user",
    )
    assert raw.parse().choices[0].message.content
    assert "prompt_cache_key" not in raw.headers.get("polyrelay-warnings", "")
    (sent,) = _posts(emulator)
    assert sent["prompt_cache_key"] == CACHE_KEY
    assert sent["safety_identifier"] == "hashed-user"
    assert "user" not in sent  # the client sent none


def test_responses_cache_key_reaches_a_chat_upstream(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.clear()
    client.responses.create(
        model=MODELS_BY_PROVIDER["openai"],
        input="hi",
        prompt_cache_key=CACHE_KEY,
        safety_identifier="hashed-user",
        user="end-user-1",
        extra_body={"client_metadata": CLIENT_METADATA},
    )
    (sent,) = _posts(emulator)
    assert sent["prompt_cache_key"] == CACHE_KEY
    assert sent["safety_identifier"] == "hashed-user"
    assert sent["user"] == "end-user-1"
    assert "client_metadata" not in sent  # Chat Completions has no such field


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_cache_key_is_left_out_quietly_elsewhere(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    emulator.clear()
    raw = client.chat.completions.with_raw_response.create(
        model=MODELS_BY_PROVIDER[provider],
        messages=[{"role": "user", "content": "hi"}],
        prompt_cache_key=CACHE_KEY,
    )
    assert raw.parse().choices[0].message.content
    assert "prompt_cache_key" not in raw.headers.get("polyrelay-warnings", "")
    (sent,) = _posts(emulator)
    assert CACHE_KEY not in str(sent)


def test_safety_identifier_is_the_anthropic_user_id(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.clear()
    client.responses.create(
        model=MODELS_BY_PROVIDER["anthropic"], input="hi", safety_identifier="hashed-user"
    )
    (sent,) = _posts(emulator)
    assert sent["metadata"] == {"user_id": "hashed-user"}
