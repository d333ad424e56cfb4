"""The Messages body's tool list is decoded once per distinct list (tools_json.py): a later
body with the same tools gets the same decoded tools, a changed list is decoded anew, a
malformed one is named as before and never cached, and a long one is not kept."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.anthropic_messages.decode import (
    DecodeOptions,
    _decode_params,
    decode_request,
)

CLAUDE_CODE = (
    Path(__file__).parents[3] / "fixtures/clients/anthropic/claude_code_tool_result_turn.json"
)
OPTIONS = DecodeOptions(default_model="m", upstream_types={"claude-opus-4-8": "gemini"})


def _body(**fields: object) -> bytes:
    return json.dumps({"messages": "hi", **fields}).encode()


def _tools(body: bytes) -> object:
    return _decode_params(body, RequestContext())[0].tools


def test_claude_code_turn_decodes_as_a_whole_body_does() -> None:
    body = json.dumps(json.loads(CLAUDE_CODE.read_text())["body"]).encode()
    first = decode_request(body, RequestContext(), OPTIONS)
    again = decode_request(body, RequestContext(), OPTIONS)
    assert msgspec.json.encode(again) == msgspec.json.encode(first)
    whole = msgspec.json.decode(body)["tools"]
    assert [t.name for t in first.tools] == [t["name"] for t in whole]
    assert [t.parameters for t in first.tools] == [t["input_schema"] for t in whole]


def test_the_same_tools_are_decoded_once() -> None:
    tools = [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    first = _tools(_body(tools=tools, max_tokens=5))
    assert _tools(_body(max_tokens=7, tools=tools)) is first
    changed = [{**tools[0], "description": "d"}]
    assert _tools(_body(tools=changed)) is not first
    assert _tools(_body()) is None and _tools(_body(tools=None)) is None


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        ([{"input_schema": {}}], "tools.0: Object missing required field `name`"),
        ([{"name": 3, "input_schema": {}}], "tools.0.name: Expected `str`, got `int`"),
        ({"name": "f"}, "tools: Expected `array | null`, got `object`"),
    ],
)
def test_a_malformed_list_is_named_and_not_kept(tools: object, field: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidRequestError) as info:
            _decode_params(_body(tools=tools), RequestContext())
        assert info.value.message == field


def test_a_long_list_is_not_kept() -> None:
    long = [{"name": f"f{i}", "description": "x" * 1000, "input_schema": {}} for i in range(300)]
    first = _tools(_body(tools=long))
    assert first is not None and len(first) == 300
    assert _tools(_body(tools=long)) is not first
