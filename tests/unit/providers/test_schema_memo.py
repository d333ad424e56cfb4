"""SchemaMemo keeps what a rule made of a schema while it holds that schema (by identity),
within its bounds; Gemini's cleaning goes through it and still warns on every request."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.ir import ChatRequest, FunctionTool, Message, Role, TextPart
from polyrelay.providers.anthropic.request import build_request as anthropic_request
from polyrelay.providers.gemini.schema import schema_for_gemini
from polyrelay.providers.openai_chat.request import build_request as chat_request
from polyrelay.providers.openai_responses.request import build_body as responses_body
from polyrelay.providers.schema_memo import Declarations, SchemaMemo


def _counting() -> tuple[list[int], Any]:
    calls: list[int] = []

    def make(schema: dict[str, Any]) -> int:
        calls.append(1)
        return len(schema)

    return calls, make


def test_a_schema_is_worked_out_once_while_kept() -> None:
    memo: SchemaMemo[int] = SchemaMemo(entries=2)
    calls, make = _counting()
    a, b, c = {"type": "object"}, {"type": "object"}, {"type": "string"}
    assert memo.get(a, make) == 1 and memo.get(a, make) == 1 and len(calls) == 1
    memo.get(b, make)  # equal, but another object: worked out again
    assert len(calls) == 2
    memo.get(c, make)  # a third: the oldest, a, leaves
    memo.get(b, make)
    assert len(calls) == 3
    memo.get(a, make)
    assert len(calls) == 4 and memo.peek(a) == 1 and memo.peek({}) is None


def test_the_kept_schemas_are_bounded_in_bytes() -> None:
    memo: SchemaMemo[int] = SchemaMemo(max_bytes=64)
    calls, make = _counting()
    big = {"description": "x" * 100}
    memo.get(big, make)
    memo.get(big, make)
    assert len(calls) == 2  # larger than the whole memo: never kept
    small = [{"description": str(i) * 20} for i in range(3)]  # 38 bytes each
    for schema in small:
        memo.get(schema, make)
    memo.get(small[2], make)
    memo.get(small[0], make)  # pushed out by the third
    assert len(calls) == 6


def test_an_error_is_not_kept() -> None:
    memo: SchemaMemo[int] = SchemaMemo()
    schema: dict[str, Any] = {}

    def fail(_: dict[str, Any]) -> int:
        raise InvalidRequestError("no")

    for _ in range(2):
        with pytest.raises(InvalidRequestError):
            memo.get(schema, fail)
    assert memo.get(schema, len) == 0


def test_gemini_warns_of_a_kept_schema_on_every_request() -> None:
    schema = {"type": "object", "properties": {"p": {"$ref": "#/$defs/X", "title": "X"}}}
    fixed = []
    for _ in range(2):
        ctx = RequestContext()
        fixed.append(schema_for_gemini(schema, ctx, "tool t"))
        (warning,) = ctx.warnings
        assert "dropped title beside $ref in the schema of tool t" in warning
    assert fixed[0] is fixed[1] and fixed[0] == {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/X"}},
    }
    assert schema["properties"]["p"]["title"] == "X"  # the client's schema is unchanged


def _request(*tools: FunctionTool) -> ChatRequest:
    user = Message(role=Role.USER, parts=(TextPart(text="hi"),))
    return ChatRequest(model="m", messages=(user,), tools=tools)


def test_declarations_are_encoded_once_with_the_same_bytes() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = (
        FunctionTool(name="f", description="d", parameters=schema, strict=False),
        FunctionTool(name="s", parameters=loose, strict=True),
    )
    openai = route("openai")
    bodies = [chat_request(_request(*tools), openai, RequestContext()).body for _ in range(2)]
    assert bodies[0] == bodies[1]
    declared = json.loads(bodies[0])["tools"]
    assert declared[0]["function"] == {
        "name": "f",
        "description": "d",
        "parameters": schema,
        "strict": False,
    }
    # The same schema under another name is that tool's own declaration.
    renamed = FunctionTool(name="g", description="d", parameters=schema, strict=False)
    again = json.loads(chat_request(_request(renamed), openai, RequestContext()).body)
    assert again["tools"][0]["function"]["name"] == "g"
    # A strict tool is declared on each request: its warning is each request's.
    for _ in range(2):
        ctx = RequestContext()
        body = json.loads(responses_body(_request(*tools), "gpt-5", ctx))
        assert [t["name"] for t in body["tools"]] == ["f", "s"]
        assert body["tools"][1]["strict"] is False
        assert any("'s' was sent without strict" in w for w in ctx.warnings)


def test_anthropic_declarations_are_encoded_once_with_the_same_bytes() -> None:
    open_schema = {"properties": {"a": {"type": "string"}}}  # no type: made an object
    tools = (
        FunctionTool(name="f", description="d", parameters=open_schema),
        FunctionTool(
            name="s", parameters={"type": "object", "additionalProperties": True}, strict=True
        ),
    )
    bodies = []
    for _ in range(2):
        ctx = RequestContext()
        bodies.append(anthropic_request(_request(*tools), route("anthropic"), ctx).body)
        assert any("additionalProperties was set to false" in w for w in ctx.warnings)
    assert bodies[0] == bodies[1]
    declared = json.loads(bodies[0])["tools"]
    assert declared[0] == {
        "name": "f",
        "description": "d",
        "input_schema": {"type": "object", **open_schema},
    }
    assert declared[1]["input_schema"]["additionalProperties"] is False
    assert open_schema == {"properties": {"a": {"type": "string"}}}


def test_a_declaration_counts_its_description_against_the_bound() -> None:
    def declare(tool: FunctionTool, ctx: RequestContext) -> FunctionTool:
        return tool

    declarations = Declarations(declare)
    ctx = RequestContext()
    small = FunctionTool(name="f", description="d", parameters={"type": "object"})
    assert not isinstance(declarations(small, ctx), msgspec.Raw)
    assert isinstance(declarations(small, ctx), msgspec.Raw)  # kept: its encoded text
    long = FunctionTool(name="g", description="x" * (600 << 10), parameters={"type": "object"})
    for _ in range(2):
        assert not isinstance(declarations(long, ctx), msgspec.Raw)  # over 512 KB: not kept


def test_tools_sharing_a_schema_keep_the_first_ones_declaration() -> None:
    declarations = Declarations(lambda tool, ctx: tool)
    ctx, shared = RequestContext(), {"type": "object"}
    first = FunctionTool(name="a", parameters=shared)
    second = FunctionTool(name="b", parameters=shared)
    for _ in range(3):
        out = [declarations(first, ctx), declarations(second, ctx)]
    assert isinstance(out[0], msgspec.Raw) and json.loads(bytes(out[0]))["name"] == "a"
    assert out[1] is second  # declared each time, never in place of the first's
