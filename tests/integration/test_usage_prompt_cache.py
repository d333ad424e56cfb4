"""Prompt-cache usage end to end, on the emulator's cache simulation: the official SDKs (and
Claude Code's own request) → a real gateway → the emulator. The second request of a
prompt reads what the first wrote; each client sees that in its own protocol's terms
(Anthropic's `input_tokens` leaves the cache out, OpenAI's counts include it), and each
request's usage row records the cache reads and writes beside the whole input.

Every prompt opens with a word of its own: the emulator's cache is per upstream key and
model, which every test of the session shares."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.cache_usage import UsageReader, words
from tests.integration.conftest import Emulator, serving

_SAMPLE = Path(__file__).parents[1] / "fixtures/clients/anthropic/claude_code_tool_result_turn.json"
_MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def served(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsageReader]:
    workdir = tmp_path_factory.mktemp("usage-prompt-cache")
    for gateway in serving(workdir, emulator):
        yield UsageReader(gateway, workdir / "polyrelay.db")


def test_messages_fast_path_writes_then_reads(served: UsageReader) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    system: Any = [{"type": "text", "text": words(1200), "cache_control": {"type": "ephemeral"}}]
    ask: Any = {"model": _MODEL, "max_tokens": 50, "system": system}
    first = client.messages.create(**ask, messages=[{"role": "user", "content": "hi there"}])
    assert first.usage.input_tokens == 2
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (
        1200,
        0,
    )
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 1200
    with client.messages.stream(**ask, messages=[{"role": "user", "content": "again"}]) as s:
        second = s.get_final_message().usage
    assert (second.input_tokens, second.cache_read_input_tokens) == (1, 1200)
    assert second.cache_creation_input_tokens == 0
    assert served.rows(key, 2) == [(1202, 0, 1200), (1201, 1200, 0)]


def test_responses_client_to_anthropic_reads_in_openai_terms(served: UsageReader) -> None:
    """Translated: the Responses breakpoint becomes Anthropic's cache_control, and the
    cache read comes back inside `input_tokens`, as OpenAI counts."""
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    marked = {"type": "input_text", "text": words(1100)}
    marked["prompt_cache_breakpoint"] = {"mode": "explicit"}  # type: ignore[assignment]
    content: Any = [marked, {"type": "input_text", "text": "so what"}]
    ask: Any = {"model": _MODEL, "input": [{"role": "user", "content": content}]}
    first = client.responses.create(**ask).usage
    second = client.responses.create(**ask).usage
    assert first is not None and second is not None
    assert (first.input_tokens, first.input_tokens_details.cached_tokens) == (1102, 0)
    assert (second.input_tokens, second.input_tokens_details.cached_tokens) == (1102, 1100)
    assert served.rows(key, 2) == [(1102, 0, 1100), (1102, 1100, 0)]


def test_chat_client_to_openai_reads_the_automatic_cache(served: UsageReader) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    messages: Any = [
        {"role": "system", "content": words(1200)},
        {"role": "user", "content": "hi"},
    ]
    cached = []
    for _ in range(2):
        usage = client.chat.completions.create(model="gpt-4o-mini", messages=messages).usage
        assert usage is not None and usage.prompt_tokens == 1201
        assert usage.prompt_tokens_details is not None
        cached.append(usage.prompt_tokens_details.cached_tokens)
    assert cached == [0, 1152]
    assert served.rows(key, 2) == [(1201, 0, 0), (1201, 1152, 0)]


def _message_start_usage(response: httpx.Response) -> dict[str, Any]:
    for line in response.text.splitlines():
        if line.startswith("data: ") and '"message_start"' in line:
            usage: dict[str, Any] = json.loads(line[6:])["message"]["usage"]
            return usage
    raise AssertionError(f"no message_start in {response.text[:300]}")


def test_claude_code_turn_replayed_writes_then_reads(served: UsageReader) -> None:
    """Claude Code's tool-result turn (cache_control on two system blocks and on the
    tool result) sent twice: all of it up to the tool result is written, then read."""
    key = served.new_key()
    body = copy.deepcopy(json.loads(_SAMPLE.read_text())["body"])
    body["model"] = _MODEL  # the captured model is not on this gateway
    tool = body["tools"][0]
    tool["description"] = f"{time.monotonic_ns()} {tool['description']}"
    headers = {"x-api-key": key[1], "anthropic-version": "2023-06-01"}
    usages = []
    for _ in range(2):
        response = httpx.post(served.url + "/v1/messages", json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:500]
        usages.append(_message_start_usage(response))
    first, second = usages
    assert first["cache_read_input_tokens"] == 0
    written = first["cache_creation_input_tokens"]
    assert written > 8000  # the tools alone are over 7000 words
    assert first["cache_creation"]["ephemeral_5m_input_tokens"] == written
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"]) == (
        written,
        0,
    )
    assert first["input_tokens"] == second["input_tokens"]
    total = written + first["input_tokens"]
    assert served.rows(key, 2) == [(total, 0, written), (total, written, 0)]
