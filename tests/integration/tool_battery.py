"""A battery of request bodies whose tool lists go through every cache that shares decoded
tools across requests (codec.CachedMember, providers/schema_memo.py): Claude Code's
tool-result turn and Codex's turn (tests/fixtures) on their own protocols, and Claude
Code's and Codex's tool lists plus an edge set (a strict tool OpenAI's strict mode takes,
a name past 64 characters that OpenAI and Gemini get renamed, one Gemini renames for its
digit first, tool_choice naming it, a `$ref` with siblings Gemini drops, a strict schema
with `minimum`/`pattern`/`oneOf` Anthropic's subset cuts, two tools of one schema text, an
empty schema, two Responses custom tools, which share one schema object) with and without
a web search tool, each on the Messages, Chat and Responses protocols."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

__all__ = ["PATHS", "battery"]

_FIXTURES = Path(__file__).parents[1] / "fixtures/clients"


def _fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((_FIXTURES / name).read_text())["body"]
    return body


_CLAUDE = _fixture("anthropic/claude_code_tool_result_turn.json")
_CODEX = _fixture("codex/codex_responses_function_call_output_turn.json")

Tool = tuple[str, str | None, dict[str, Any], bool | None]
"""name, description, schema, strict."""

_LONG = "mcp__a_very_long_server_name_for_tests__and_an_even_longer_tool_name_x"
_DIGIT = "9lives"
_POINT = {"type": "object", "properties": {"x": {"type": "number"}}}
_EDGE: list[Tool] = [
    (
        "closed",
        "A strict tool OpenAI takes",
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "required": ["a"],
            "additionalProperties": False,
        },
        True,
    ),
    (_LONG, "Renamed for OpenAI and Gemini", {"type": "object", "properties": {}}, None),
    (
        "refs",
        "A $ref with siblings",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/P", "title": "P", "description": "the p"}},
            "$defs": {"P": _POINT},
        },
        None,
    ),
    (
        "cut",
        "Strict, with keywords Anthropic's subset cuts",
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1, "maximum": 9},
                "s": {"type": "string", "pattern": "^[a-z]+$"},
                "o": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "required": ["n", "s", "o"],
        },
        True,
    ),
    ("twin_a", "One of two tools of one schema", _POINT, None),
    ("twin_b", "The other", _POINT, False),
    ("bare", None, {}, None),
    (_DIGIT, "Renamed for Gemini (a digit first)", {"properties": {"q": {}}}, None),
]


def _claude_tools() -> list[Tool]:
    return [
        (t["name"], t.get("description"), t["input_schema"], t.get("strict"))
        for t in _CLAUDE["tools"]
    ]


def _codex_tools() -> list[Tool]:
    return [
        (t["name"], t.get("description"), t["parameters"], t.get("strict"))
        for t in _CODEX["tools"]
        if t.get("type") == "function"
    ]


def _messages(tools: list[Tool], choice: str | None, search: bool) -> dict[str, Any]:
    declared: list[dict[str, Any]] = []
    for name, description, schema, strict in tools:
        # On the fast path Anthropic itself reads the schema, and wants its type.
        tool: dict[str, Any] = {"name": name, "input_schema": schema or {"type": "object"}}
        if description is not None:
            tool["description"] = description
        if strict is not None:
            tool["strict"] = strict
        declared.append(tool)
    if search:
        declared.append({"type": "web_search_20250305", "name": "web_search", "max_uses": 2})
    body: dict[str, Any] = {
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello there"}],
        "tools": declared,
    }
    if choice is not None:
        body["tool_choice"] = {"type": "tool", "name": choice}
    return body


def _chat(tools: list[Tool], choice: str | None, search: bool) -> dict[str, Any]:
    declared = []
    for name, description, schema, strict in tools:
        if len(name) > 64:  # refused by the Chat frontend, as OpenAI does
            choice = _DIGIT if choice == name else choice
            continue
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if description is not None:
            function["description"] = description
        if strict is not None:
            function["strict"] = strict
        declared.append({"type": "function", "function": function})
    body: dict[str, Any] = {
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello there"}],
        "tools": declared,
    }
    if search:
        body["web_search_options"] = {}
    if choice is not None:
        body["tool_choice"] = {"type": "function", "function": {"name": choice}}
    return body


def _responses(tools: list[Tool], choice: str | None, search: bool) -> dict[str, Any]:
    declared: list[dict[str, Any]] = []
    for name, description, schema, strict in tools:
        tool: dict[str, Any] = {"type": "function", "name": name, "parameters": schema}
        if description is not None:
            tool["description"] = description
        tool["strict"] = bool(strict)
        declared.append(tool)
    declared.append({"type": "custom", "name": "apply_patch", "description": "A patch"})
    declared.append({"type": "custom", "name": "notes", "description": "Free text"})
    if search:
        declared.append({"type": "web_search"})
    body: dict[str, Any] = {"max_output_tokens": 256, "input": "Hello there", "tools": declared}
    if choice is not None:
        body["tool_choice"] = {"type": "function", "name": choice}
    return body


PATHS = {
    "messages": "/v1/messages",
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
}
_BUILD = {"messages": _messages, "chat": _chat, "responses": _responses}


def battery() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, protocol, body without model and stream), each body the caller's own."""
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("claude-code-turn", "messages", _CLAUDE),
        ("codex-turn", "responses", _CODEX),
    ]
    sets: list[tuple[str, list[Tool], str | None, bool]] = [
        ("claude-code-tools", _claude_tools(), None, False),
        ("codex-tools", _codex_tools(), None, False),
        ("edge", _EDGE, _LONG, False),
        ("edge-search", _EDGE, None, True),
    ]
    for protocol, build in _BUILD.items():
        for name, tools, choice, search in sets:
            out.append((name, protocol, build(tools, choice, search)))
    return copy.deepcopy(out)
