"""Prompt caching asked by OpenAI-format clients, decoded into the IR: a Chat part's or
message's LiteLLM-style `cache_control` (TextPart.cache_control, with its ttl), and
`prompt_cache_key` / `prompt_cache_retention` of both OpenAI protocols
(ChatRequest.prompt_cache)."""

from __future__ import annotations

from typing import Any

import pytest

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.ir import ChatRequest, TextPart, ToolResultPart

CHAT = OpenAIChatFrontend()
RESPONSES = OpenAIResponsesFrontend()
MARK = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def _chat(messages: list[Any], ctx: RequestContext | None = None, **body: Any) -> ChatRequest:
    raw = encode({"model": "m", "messages": messages, **body})
    return CHAT.decode(raw, ctx or RequestContext())


def _text(text: str, mark: Any = None) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": text}
    if mark is not None:
        part["cache_control"] = mark
    return part


def test_a_marked_part_of_each_role() -> None:
    request = _chat(
        [
            {"role": "system", "content": [_text("rules", MARK), _text("more")]},
            {"role": "user", "content": [_text("question", HOUR)]},
            {
                "role": "assistant",
                "content": [_text("answer", MARK)],
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": [_text("out", MARK)]},
            {"role": "developer", "content": [_text("late", HOUR)]},
        ]
    )
    assert request.system == (TextPart(text="rules", cache_control="5m"), TextPart(text="more"))
    user, assistant, tool, late = request.messages
    assert user.parts == (TextPart(text="question", cache_control="1h"),)
    assert assistant.parts[0] == TextPart(text="answer", cache_control="5m")
    result = tool.parts[0]
    assert isinstance(result, ToolResultPart)
    assert result.content == (TextPart(text="out", cache_control="5m"),)
    assert late.parts == (TextPart(text="late", cache_control="1h"),)


def test_a_marked_message_marks_its_last_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    request = _chat(
        [
            {"role": "system", "content": "rules", "cache_control": HOUR},
            {"role": "user", "content": [_text("a"), _text("b"), image], "cache_control": MARK},
            {"role": "assistant", "content": "sure", "cache_control": MARK},
            {"role": "user", "content": "go on"},
        ]
    )
    assert request.system == (TextPart(text="rules", cache_control="1h"),)
    first, answer, last = request.messages
    assert first.parts[:2] == (TextPart(text="a"), TextPart(text="b", cache_control="5m"))
    assert answer.parts == (TextPart(text="sure", cache_control="5m"),)
    assert last.parts == (TextPart(text="go on"),)


def test_a_marked_tool_message_marks_its_result() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = _chat(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "out", "cache_control": MARK},
        ]
    )
    result = request.messages[-1].parts[0]
    assert isinstance(result, ToolResultPart)
    assert result.content == (TextPart(text="out", cache_control="5m"),)


@pytest.mark.parametrize(
    ("mark", "ttl", "warned"),
    [
        ({"type": "persistent"}, None, 'is not {"type": "ephemeral"}'),
        ("yes", None, 'is not {"type": "ephemeral"}'),
        ({"type": "ephemeral", "ttl": "10m"}, "5m", "ttl '10m' is not 5m or 1h"),
        ({"type": "ephemeral", "ttl": "5m"}, "5m", None),
    ],
)
def test_a_malformed_mark_is_warned_never_refused(mark: Any, ttl: Any, warned: Any) -> None:
    ctx = RequestContext()
    request = _chat([{"role": "user", "content": [_text("q", mark)]}], ctx)
    assert request.messages[0].parts == (TextPart(text="q", cache_control=ttl),)
    ctx.translating()
    found = [w for w in ctx.warnings if "messages[0].content[0].cache_control" in w]
    if warned is None:
        assert found == []
    else:
        assert len(found) == 1 and warned in found[0]


def test_a_message_without_text_is_warned() -> None:
    ctx = RequestContext()
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call], "cache_control": MARK},
    ]
    _chat(messages, ctx)
    ctx.translating()
    assert any("messages[1].cache_control: the message has no text" in w for w in ctx.warnings)


def test_no_marks_decode_as_before() -> None:
    request = _chat([{"role": "system", "content": [_text("s")]}, {"role": "user", "content": "q"}])
    assert request.system == (TextPart(text="s"),)
    assert request.prompt_cache is None


@pytest.mark.parametrize(
    ("fields", "asked"),
    [
        ({}, None),
        ({"prompt_cache_key": "session-1"}, "5m"),
        ({"prompt_cache_retention": "in_memory"}, "5m"),
        ({"prompt_cache_retention": "24h"}, "1h"),
        ({"prompt_cache_key": "s", "prompt_cache_retention": "24h"}, "1h"),
        ({"prompt_cache_key": 7}, None),  # not a string: warned and ignored
    ],
)
def test_prompt_cache_asked_in_openai_terms(fields: dict[str, Any], asked: str | None) -> None:
    assert _chat([{"role": "user", "content": "q"}], **fields).prompt_cache == asked
    if isinstance(fields.get("prompt_cache_key", ""), str):
        raw = encode({"model": "m", "input": "q", **fields})
        request, _ = RESPONSES.decode_with_options(raw, RequestContext())
        assert request.prompt_cache == asked


def test_responses_breakpoint_ttl() -> None:
    long = {
        "type": "input_text",
        "text": "a",
        "prompt_cache_breakpoint": {"mode": "explicit", "ttl": "12h"},
    }
    short = {"type": "input_text", "text": "b", "prompt_cache_breakpoint": {"mode": "explicit"}}
    raw = encode({"model": "m", "input": [{"role": "user", "content": [long, short]}]})
    request, _ = RESPONSES.decode_with_options(raw, RequestContext())
    assert request.messages[0].parts == (
        TextPart(text="a", cache_control="1h"),
        TextPart(text="b", cache_control="5m"),
    )


def test_warnings_name_the_tool_and_system_messages_paths() -> None:
    """Those paths are written out only when a mark needs them (most tool results have
    none): they must still name the client's message and part."""
    ctx = RequestContext()
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "system", "content": "rules", "cache_control": {"type": "persistent"}},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": [_text("out", {"type": "x"})]},
    ]
    _chat(messages, ctx)
    ctx.translating()
    assert any(w.startswith("messages[0].cache_control is not") for w in ctx.warnings)
    assert any(w.startswith("messages[3].content[0].cache_control is not") for w in ctx.warnings)
