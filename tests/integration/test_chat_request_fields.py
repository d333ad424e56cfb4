"""Request fields of the Chat Completions API on translated paths: each is carried, mapped,
refused with a 400 naming it, or dropped with a warning, never dropped silently. The
official openai SDK sends them; what each upstream received is read back from the
emulator. The fast path (an `openai` upstream) relays the client's body as sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import gateway_config

CHAT, RESPONSES, CLAUDE, GEMINI = (
    "gpt-4o-mini",
    "gpt-5-mini",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
)
TRANSLATED = (RESPONSES, CLAUDE, GEMINI)
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def chat_gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp("chat-fields")
    (workdir / "polyrelay.yaml").write_text(gateway_config(emulator.url, workdir / "p.db"))
    yield from serving_config(workdir / "polyrelay.yaml")


def _chat(gateway: Gateway, api_key: str, **fields: Any) -> str:
    """Sends a Chat Completions request; returns its polyrelay-warnings."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)
    fields.setdefault("messages", HI)
    raw = client.chat.completions.with_raw_response.create(**fields)
    parsed = raw.parse()
    if fields.get("stream"):
        for _ in parsed:
            pass
    return raw.headers.get("polyrelay-warnings", "")


def _refused(gateway: Gateway, api_key: str, **fields: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(gateway, api_key, **fields)
    return caught.value


def _sent(emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = emulator.last()["body"]
    return body


AUDIO_ONLY = [
    *HI,
    {"role": "assistant", "audio": {"id": "audio_1"}},
    {"role": "user", "content": "more"},
]
AUDIO_AND_TEXT = [
    *HI,
    {"role": "assistant", "content": "hello", "audio": {"id": "audio_1"}},
    {"role": "user", "content": "more"},
]


@pytest.mark.parametrize("model", TRANSLATED)
def test_an_audio_answer_by_id_is_refused_or_warned(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """Only OpenAI holds an earlier audio answer: alone it is the whole assistant turn,
    which leaving out would merge the user turns around it."""
    emulator.clear()
    error = _refused(chat_gateway, api_key, model=model, messages=AUDIO_ONLY)
    assert "messages[1].audio" in error.message
    assert emulator.requests() == []
    warnings = _chat(chat_gateway, api_key, model=model, messages=AUDIO_AND_TEXT)
    assert "messages[1].audio" in warnings


def test_an_audio_answer_by_id_is_relayed_on_the_fast_path(
    chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    _chat(chat_gateway, api_key, model=CHAT, messages=AUDIO_ONLY)
    assert _sent(emulator)["messages"][1]["audio"] == {"id": "audio_1"}


CUSTOM_TOOL = {"type": "custom", "custom": {"name": "shell", "description": "runs"}}
CUSTOM_LOOP = [
    *HI,
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "custom", "custom": {"name": "shell", "input": "ls"}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
]


def test_a_custom_tools_call_in_history_is_relayed_on_the_fast_path(
    chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """OpenAI answers a custom tool with a custom call, which its client sends back."""
    emulator.clear()
    _chat(chat_gateway, api_key, model=CHAT, messages=CUSTOM_LOOP, tools=[CUSTOM_TOOL])
    assert _sent(emulator)["messages"][1]["tool_calls"] == CUSTOM_LOOP[1]["tool_calls"]


@pytest.mark.parametrize("model", TRANSLATED)
def test_a_custom_tools_call_in_history_is_refused_when_translated(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    error = _refused(chat_gateway, api_key, model=model, messages=CUSTOM_LOOP)
    assert "messages[1].tool_calls[0].type" in error.message
    assert "custom" in error.message
    assert emulator.requests() == []


NAMED = [
    {"role": "system", "content": "be brief", "name": "rules"},
    {"role": "user", "content": "hi", "name": "alice"},
]


@pytest.mark.parametrize("model", TRANSLATED)
def test_message_names_are_warned_when_translated(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    warnings = _chat(chat_gateway, api_key, model=model, messages=NAMED)
    assert "messages[0].name" in warnings  # the system prompt's
    assert "messages' name is not supported" in warnings  # alice's
    emulator.clear()
    unnamed = [{"role": m["role"], "content": m["content"]} for m in NAMED]
    assert "name" not in _chat(chat_gateway, api_key, model=model, messages=unnamed)


def test_message_names_are_relayed_on_the_fast_path(
    chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    assert _chat(chat_gateway, api_key, model=CHAT, messages=NAMED) == ""
    assert [m.get("name") for m in _sent(emulator)["messages"]] == ["rules", "alice"]


# --- sampling and caching fields


# model → where its upstream's body holds top_k (None: not taken, warned)
TOP_K = {
    CHAT: ("top_k",),
    RESPONSES: None,
    CLAUDE: ("top_k",),
    GEMINI: ("generationConfig", "topK"),
}


@pytest.mark.parametrize("model", list(TOP_K))
def test_top_k_reaches_the_upstreams_that_take_it(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    warnings = _chat(chat_gateway, api_key, model=model, extra_body={"top_k": 5})
    sent: Any = _sent(emulator)
    path = TOP_K[model]
    if path is None:
        assert "top_k" not in sent
        assert "top_k is not supported by OpenAI Responses" in warnings
        return
    for key in path:
        sent = sent[key]
    assert sent == 5
    assert "top_k" not in warnings


def test_a_top_k_of_no_limit_is_left_out(
    chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """vLLM's -1 means every token, as no top_k does; Anthropic refuses a negative one."""
    emulator.clear()
    warnings = _chat(chat_gateway, api_key, model=CLAUDE, extra_body={"top_k": -1})
    assert "top_k" not in _sent(emulator)
    assert "top_k" not in warnings


CACHE = {"prompt_cache_retention": "24h", "prompt_cache_options": {"mode": "implicit"}}


@pytest.mark.parametrize("model", [CHAT, *TRANSLATED])
def test_prompt_cache_retention_and_options_reach_openai_upstreams(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    warnings = _chat(chat_gateway, api_key, model=model, extra_body=CACHE)
    sent = _sent(emulator)
    openai_upstream = model in (CHAT, RESPONSES)
    for field, value in CACHE.items():
        assert sent.get(field) == (value if openai_upstream else None), field
    # Anthropic and Gemini cache by their own rules, as for prompt_cache_key.
    assert "prompt_cache" not in warnings


def test_a_responses_clients_cache_retention_reaches_a_chat_upstream(
    chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    client = openai.OpenAI(base_url=chat_gateway.url + "/v1", api_key=api_key, max_retries=0)
    emulator.clear()
    raw = client.responses.with_raw_response.create(model=CHAT, input="hi", extra_body=CACHE)
    raw.parse()
    sent = _sent(emulator)
    assert "messages" in sent  # translated to Chat Completions
    assert sent.get("prompt_cache_retention") == "24h"
    assert sent.get("prompt_cache_options") == {"mode": "implicit"}
    assert "prompt_cache" not in raw.headers.get("polyrelay-warnings", "")


@pytest.mark.parametrize("model", TRANSLATED)
def test_stream_obfuscation_asked_for_is_warned_when_translated(
    model: str, chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    options = {"include_obfuscation": True}
    warnings = _chat(chat_gateway, api_key, model=model, stream=True, stream_options=options)
    assert "include_obfuscation" in warnings


# --- the response format


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
SCHEMA["additionalProperties"] = False
FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "description": "the answer", "schema": SCHEMA},
}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (CLAUDE, ("output_config", "format", "schema")),
        (GEMINI, ("generationConfig", "responseJsonSchema")),
    ],
)
def test_a_response_formats_description_reaches_the_model(
    model: str, path: tuple[str, ...], chat_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """Anthropic and Gemini take no description beside the schema: it goes in the schema."""
    emulator.clear()
    _chat(chat_gateway, api_key, model=model, response_format=FORMAT)
    sent: Any = _sent(emulator)
    for key in path:
        sent = sent[key]
    assert sent["description"] == "the answer"
