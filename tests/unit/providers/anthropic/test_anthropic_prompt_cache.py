"""Prompt caching in a translated request to Anthropic: each breakpoint of the IR with its
ttl, and the top-level automatic `cache_control` when the client asked for caching in
OpenAI's terms (ChatRequest.prompt_cache) or the model is configured `prompt_caching:
auto`, never beside the request's own markers, so the 4-marker limit holds."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import CacheTTL, ChatRequest, Message, Role, TextPart, ToolResultPart
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.openai_responses.request import build_body

PROVIDER = AnthropicProvider()


def _build(request: ChatRequest, prompt_caching: str = "off") -> dict[str, Any]:
    to = route("anthropic", upstream="claude-sonnet-4-5", prompt_caching=prompt_caching)
    body: dict[str, Any] = json.loads(PROVIDER.build_request(request, to, RequestContext()).body)
    return body


def _request(*marks: CacheTTL | None, **fields: Any) -> ChatRequest:
    """A request whose user message has one text part per mark (None: unmarked)."""
    parts = tuple(TextPart(text=f"part {i}", cache_control=m) for i, m in enumerate(marks))
    return ChatRequest(model="c", messages=(Message(role=Role.USER, parts=parts),), **fields)


def _markers(body: dict[str, Any]) -> list[Any]:
    """Every cache_control in the body: the top-level one first, then each block's."""
    found = [body["cache_control"]] if "cache_control" in body else []
    for message in body["messages"]:
        content = message["content"]
        for block in content if isinstance(content, list) else ():
            found.extend(b["cache_control"] for b in [block] if "cache_control" in b)
            inner = block.get("content")
            for b in inner if isinstance(inner, list) else ():
                found.extend([b["cache_control"]] if "cache_control" in b else [])
    return found


def test_a_breakpoint_keeps_its_ttl() -> None:
    body = _build(_request("1h", None, "5m"))
    content = body["messages"][0]["content"]
    assert content[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in content[1]
    assert content[2]["cache_control"] == {"type": "ephemeral"}  # the default, as clients write it
    assert "cache_control" not in body


def test_a_system_breakpoint_with_ttl() -> None:
    request = _request(None, system=(TextPart(text="rules", cache_control="1h"),))
    body = _build(request)
    assert body["system"] == [
        {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]


def test_no_caching_asked_sends_no_marker() -> None:
    assert _markers(_build(_request(None))) == []


def test_prompt_cache_asked_marks_the_prompt_end() -> None:
    assert _build(_request(None, prompt_cache="5m"))["cache_control"] == {"type": "ephemeral"}
    long = _build(_request(None, prompt_cache="1h"))
    assert long["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_model_configured_auto_marks_the_prompt_end() -> None:
    body = _build(_request(None), prompt_caching="auto")
    assert body["cache_control"] == {"type": "ephemeral"}
    # The client's own ttl wins over the model's default.
    body = _build(_request(None, prompt_cache="1h"), prompt_caching="auto")
    assert body["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_own_breakpoints_are_not_joined_by_the_automatic_one() -> None:
    body = _build(_request("5m", None, prompt_cache="5m"), prompt_caching="auto")
    assert "cache_control" not in body
    assert _markers(body) == [{"type": "ephemeral"}]


def test_never_more_than_four_markers() -> None:
    for own in (4, 6):
        body = _build(_request(*["5m"] * own, prompt_cache="1h"), prompt_caching="auto")
        assert "cache_control" not in body
        assert len(_markers(body)) == 4


def test_a_tool_result_breakpoint_counts_as_own() -> None:
    result = ToolResultPart(tool_call_id="t1", content=(TextPart(text="out", cache_control="5m"),))
    request = ChatRequest(
        model="c", messages=(Message(role=Role.TOOL, parts=(result,)),), prompt_cache="5m"
    )
    body = _build(request)
    assert _markers(body) == [{"type": "ephemeral"}]
    assert "cache_control" not in body


def test_an_anthropic_clients_own_top_level_marker_wins() -> None:
    own = {"anthropic.cache_control": {"type": "ephemeral", "ttl": "1h"}}
    body = _build(_request(None, extensions=own), prompt_caching="auto")
    assert body["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert len(_markers(body)) == 1


def test_an_anthropic_clients_marked_tool_counts_as_own() -> None:
    tools = [
        {"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    ]
    body = _build(_request(None, extensions={"anthropic.tools": tools}), prompt_caching="auto")
    assert "cache_control" not in body


def test_responses_upstream_gets_no_breakpoint() -> None:
    """OpenAI takes explicit breakpoints only from gpt-5.6 on and caches by itself."""
    body = json.loads(build_body(_request("1h", None), "gpt-5-mini", RequestContext()))
    parts = body["input"][0]["content"]
    assert [part["text"] for part in parts] == ["part 0", "part 1"]
    assert all("prompt_cache_breakpoint" not in part for part in parts)
