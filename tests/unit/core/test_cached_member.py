"""A client's tool list is decoded once per distinct list (codec.CachedMember), on each
protocol: a later body with the same tools gets the same decoded tools, a changed list is
decoded anew, a malformed one is named as a decode of the whole body names it and is never
kept, and a long one is not kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.anthropic_messages.decode import (
    DecodeOptions,
    _decode_params,
    decode_request,
)
from polyrelay.frontends.openai_chat.decode import _decode_params as chat_params
from polyrelay.frontends.openai_responses.decode import parse_params
from polyrelay.schemas.openai_responses import ResponseCreateParams, ResponseCreateParamsStrict

CLIENTS = Path(__file__).parents[2] / "fixtures/clients"
CLAUDE_CODE = CLIENTS / "anthropic/claude_code_tool_result_turn.json"
CODEX = CLIENTS / "codex/codex_responses_function_call_output_turn.json"
OPTIONS = DecodeOptions(default_model="m", upstream_types={"claude-opus-4-8": "gemini"})
TOOL = {"name": "f", "input_schema": {"type": "object", "properties": {}}}


def _body(**fields: object) -> bytes:
    return json.dumps({"messages": "hi", **fields}).encode()


def _tools(body: bytes) -> object:
    return _decode_params(body, RequestContext())[0].tools


def _sample(path: Path) -> bytes:
    return json.dumps(json.loads(path.read_text())["body"]).encode()


def test_claude_code_turn_decodes_as_a_whole_body_does() -> None:
    body = _sample(CLAUDE_CODE)
    first = decode_request(body, RequestContext(), OPTIONS)
    again = decode_request(body, RequestContext(), OPTIONS)
    assert msgspec.json.encode(again) == msgspec.json.encode(first)
    whole = msgspec.json.decode(body)["tools"]
    assert [t.name for t in first.tools] == [t["name"] for t in whole]
    assert [t.parameters for t in first.tools] == [t["input_schema"] for t in whole]


def test_codex_turn_decodes_as_a_whole_body_does() -> None:
    body = _sample(CODEX)
    whole, _ = codec.decode_known(body, ResponseCreateParamsStrict, ResponseCreateParams)
    first, again = parse_params(body), parse_params(body)
    # The same members (`tools` comes first in the decoding subclass: no one encodes it).
    assert msgspec.to_builtins(first) == msgspec.to_builtins(whole)
    assert first.tools is again.tools and first.tools


def test_the_same_tools_are_decoded_once_on_each_protocol() -> None:
    first = _tools(_body(tools=[TOOL], max_tokens=5))
    assert _tools(_body(max_tokens=7, tools=[TOOL])) is first
    assert _tools(_body(tools=[{**TOOL, "description": "d"}])) is not first
    assert _tools(_body()) is None and _tools(_body(tools=None)) is None
    function = {"type": "function", "function": {"name": "f", "parameters": {}}}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [function]}
    ctx = RequestContext()
    one = chat_params(json.dumps(chat).encode(), ctx).tools
    assert chat_params(json.dumps({**chat, "n": 1}).encode(), ctx).tools is one


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([{"input_schema": {}}], "tools.0: Object missing required field `name`"),
        ([{"name": 3, "input_schema": {}}], "tools.0.name: Expected `str`, got `int`"),
        ({"name": "f"}, "tools: Expected `array | null`, got `object`"),
    ],
)
def test_a_malformed_list_is_named_and_not_kept(tools: object, message: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidRequestError) as info:
            _decode_params(_body(tools=tools), RequestContext())
        assert info.value.message == message


def test_chat_and_responses_name_a_malformed_tool_as_before() -> None:
    chat: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(InvalidRequestError) as info:
        chat_params(
            json.dumps({**chat, "tools": [{"type": "function"}]}).encode(), RequestContext()
        )
    assert info.value.param == "tools[0].function"
    with pytest.raises(InvalidRequestError) as info:
        parse_params(json.dumps({"model": "m", "tools": [{"name": "f"}]}).encode())
    assert info.value.param == "tools[0].type"


def test_a_long_list_is_not_kept() -> None:
    long = [{"name": f"f{i}", "description": "x" * 1000, "input_schema": {}} for i in range(300)]
    first = _tools(_body(tools=long))
    assert first is not None and len(first) == 300
    assert _tools(_body(tools=long)) is not first


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    tools: list[Any] | None = None


class _LenientBody(msgspec.Struct):
    tools: list[Any] | None = None


def test_the_kept_lists_are_bounded_in_bytes_too() -> None:
    """Sixteen distinct lists just under `max_bytes` each, which any key may send, would
    be kept decoded (several times their size): the texts kept come to `kept_bytes`."""
    member = codec.CachedMember(_Body, _LenientBody, "tools", list[Any] | None, kept_bytes=1000)

    def tools(number: int) -> object:
        body = json.dumps({"tools": [{"n": number, "pad": "x" * 380}]}).encode()
        return member.decode_known(body)[0].tools

    first = [tools(number) for number in range(4)]  # ~400 bytes each: two fit
    assert tools(3) is first[3] and tools(2) is first[2]
    assert tools(0) is not first[0]  # the least recently used went
