"""Prompt caching for OpenAI-protocol clients served by a Claude model, end to end on the
emulator's cache simulation: a Chat part's LiteLLM-style `cache_control` becomes the
Anthropic block's marker (with its ttl), a `prompt_cache_key` / `prompt_cache_retention`
or a model configured `prompt_caching: auto` becomes the top-level automatic
`cache_control`, never more than Anthropic's 4 markers in all; the second request reads
what the first wrote, in OpenAI's terms (`cached_tokens`), and the usage rows record both.

Every prompt opens with a word of its own: the emulator's cache is per upstream key and
model, which every test of the session shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.integration.cache_usage import UsageReader, words
from tests.integration.conftest import Emulator, serving_config
from tests.integration.servers import gateway_config

_MODEL = "claude-sonnet-4-5"
_AUTO = "claude-auto"
_AUTO_MODEL = f"  {_AUTO}: {{provider: emu-anthropic, model: {_MODEL}, prompt_caching: auto}}\n"
_MARK = {"type": "ephemeral"}


@pytest.fixture(scope="module")
def served(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsageReader]:
    workdir = tmp_path_factory.mktemp("prompt-cache-translated")
    config = workdir / "polyrelay.yaml"
    text = gateway_config(emulator.url, workdir / "polyrelay.db")
    config.write_text(text.replace("models:\n", "models:\n" + _AUTO_MODEL, 1))
    for gateway in serving_config(config):
        yield UsageReader(gateway, workdir / "polyrelay.db")


def _upstream(emulator: Emulator) -> dict[str, Any]:
    """The body the Anthropic upstream got last."""
    last = emulator.last()
    assert last["path"] == "/v1/messages", last["path"]
    body: dict[str, Any] = last["body"]
    return body


def _markers(body: dict[str, Any]) -> int:
    """Anthropic's count: each block with cache_control, and the top-level one."""
    blocks = list(body.get("system") or []) if isinstance(body.get("system"), list) else []
    for message in body["messages"]:
        content = message["content"]
        for block in content if isinstance(content, list) else ():
            blocks.append(block)
            inner = block.get("content")
            blocks.extend(inner if isinstance(inner, list) else ())
    return sum(1 for b in blocks if b.get("cache_control")) + ("cache_control" in body)


def _openai(served: UsageReader) -> tuple[openai.OpenAI, tuple[str, str]]:
    key = served.new_key()
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0), key


def test_chat_breakpoint_on_a_system_part_writes_then_reads(
    served: UsageReader, emulator: Emulator
) -> None:
    client, key = _openai(served)
    system = [{"type": "text", "text": words(1200), "cache_control": _MARK}]
    messages: Any = [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]
    cached = []
    for _ in range(2):
        usage = client.chat.completions.create(model=_MODEL, messages=messages).usage
        assert usage is not None and usage.prompt_tokens == 1201
        assert usage.prompt_tokens_details is not None
        cached.append(usage.prompt_tokens_details.cached_tokens)
        body = _upstream(emulator)
        assert body["system"][0]["cache_control"] == _MARK
        assert "cache_control" not in body  # the client chose its breakpoint
    assert cached == [0, 1200]
    assert served.rows(key, 2) == [(1201, 0, 1200), (1201, 1200, 0)]


def test_chat_breakpoint_keeps_a_1h_ttl(served: UsageReader, emulator: Emulator) -> None:
    client, _ = _openai(served)
    hour = {"type": "ephemeral", "ttl": "1h"}
    messages: Any = [
        {"role": "system", "content": words(1100), "cache_control": hour},
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": _MARK}]},
    ]
    client.chat.completions.create(model=_MODEL, messages=messages)
    body = _upstream(emulator)
    assert body["system"][0]["cache_control"] == hour
    assert body["messages"][0]["content"][0]["cache_control"] == _MARK


def test_responses_cache_key_caches_the_conversation(
    served: UsageReader, emulator: Emulator
) -> None:
    """Codex's way: a prompt_cache_key on every turn and no breakpoints; the next turn
    (by previous_response_id) reads the prompt the first one wrote."""
    client, key = _openai(served)
    ask: Any = {"model": _MODEL, "prompt_cache_key": "session-1", "max_output_tokens": 20}
    first = client.responses.create(**ask, input=words(1200))
    assert _upstream(emulator)["cache_control"] == _MARK
    second = client.responses.create(**ask, input="and then", previous_response_id=first.id)
    assert _upstream(emulator)["cache_control"] == _MARK
    assert first.usage is not None and second.usage is not None
    assert (first.usage.input_tokens, first.usage.input_tokens_details.cached_tokens) == (1200, 0)
    assert second.usage.input_tokens_details.cached_tokens == 1200
    rows = served.rows(key, 2)
    assert rows[0] == (1200, 0, 1200)
    total, read, written = rows[1]
    assert (total, read) == (second.usage.input_tokens, 1200)
    assert written == total - 1200  # the answer and the new turn, cached for the next


def test_responses_24h_retention_is_the_1h_ttl(served: UsageReader, emulator: Emulator) -> None:
    client, _ = _openai(served)
    client.responses.create(model=_MODEL, input="hi", prompt_cache_retention="24h")
    assert _upstream(emulator)["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_model_configured_auto_caches_a_plain_request(
    served: UsageReader, emulator: Emulator
) -> None:
    client, key = _openai(served)
    messages: Any = [
        {"role": "system", "content": words(1100)},
        {"role": "user", "content": "hi"},
    ]
    client.chat.completions.create(model=_MODEL, messages=messages)
    assert "cache_control" not in _upstream(emulator)  # off by default
    cached = []
    for _ in range(2):
        usage = client.chat.completions.create(model=_AUTO, messages=messages).usage
        assert usage is not None and usage.prompt_tokens_details is not None
        cached.append(usage.prompt_tokens_details.cached_tokens)
        assert _upstream(emulator)["cache_control"] == _MARK
    assert cached == [0, 1101]
    assert served.rows(key, 3)[1:] == [(1101, 0, 1101), (1101, 1101, 0)]


def test_own_breakpoints_and_a_cache_key_stay_within_four(
    served: UsageReader, emulator: Emulator
) -> None:
    client, _ = _openai(served)
    parts = [{"type": "text", "text": f"part {i}", "cache_control": _MARK} for i in range(5)]
    messages: Any = [
        {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": _MARK}]},
        {"role": "user", "content": parts},
    ]
    for model in (_MODEL, _AUTO):
        for count in (3, 5):
            messages[1]["content"] = parts[:count]
            client.chat.completions.create(
                model=model, messages=messages, prompt_cache_key="session-2"
            )
            body = _upstream(emulator)
            assert _markers(body) == min(count + 1, 4)
            assert "cache_control" not in body
