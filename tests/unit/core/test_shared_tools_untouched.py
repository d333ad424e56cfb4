"""The objects shared across requests (and so across API keys) are never changed, and what
is derived from them depends on its key alone: a client's tool list decoded once per text
(codec.CachedMember), the Gemini cleaning, the providers' encoded declarations and the
Responses echo, each kept per object (providers/schema_memo.py).

The oracle: the same requests built with every one of those caches turned off. The
battery (tests/integration/tool_battery.py) goes through each frontend's decode, the tool
renaming and the web search the gateway runs, and each provider's build_request, streamed
and not, in several orders and on threads; every upstream body, and every Responses echo,
is the one the uncached run made. After it, each kept tool list is equal to a fresh
decode of its text and each memo's result to a fresh derivation from its key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from tests.integration.servers import MODELS_BY_PROVIDER
from tests.integration.tool_battery import battery
from tests.unit.builders import route

from polyrelay import codec
from polyrelay.app import default_providers
from polyrelay.context import RequestContext
from polyrelay.frontends.anthropic_messages import decode as messages_decode
from polyrelay.frontends.openai_chat import decode as chat_decode
from polyrelay.frontends.openai_responses import (
    decode as responses_decode,
    encode as responses_encode,
    tools as responses_tools,
)
from polyrelay.ir import ChatRequest, FunctionTool, Message, Role, TextPart
from polyrelay.pipeline.calls import built
from polyrelay.providers import Route
from polyrelay.providers.anthropic import declarations as anthropic_declarations
from polyrelay.providers.gemini import schema as gemini_schema
from polyrelay.providers.openai_chat import request as chat_request
from polyrelay.providers.openai_responses import request as responses_request
from polyrelay.providers.schema_memo import SchemaMemo
from polyrelay.tools import web_search
from polyrelay.tools.loop import prepare_request
from polyrelay.tools.web_search import WebSearch

PROVIDERS = default_providers()
ROUTES: dict[str, Route] = {
    kind: route(kind, public=model, upstream=model, max_output_tokens=64000)  # type: ignore[arg-type]
    for kind, model in MODELS_BY_PROVIDER.items()
}
MEMBERS = {
    "messages": messages_decode._WITH_TOOLS,
    "chat": chat_decode._WITH_TOOLS,
    "responses": responses_decode._WITH_TOOLS,
}
DECLARATIONS = {
    "openai": chat_request._DECLARED,
    "openai-responses": responses_request._DECLARED,
    "anthropic": anthropic_declarations.declared,
}
CONSTANTS = {
    "anthropic EMPTY_SCHEMA": anthropic_declarations.EMPTY_SCHEMA,
    "openai-responses _EMPTY_SCHEMA": responses_request._EMPTY_SCHEMA,
    "responses custom tools' schema": responses_tools._CUSTOM_INPUT_SCHEMA,
    "web search function's schema": web_search._PARAMETERS,
}
"""Schemas of the gateway's own that requests share (as the memos key them) too."""
Case = tuple[str, str, str, bool, bytes]
"""name, protocol, upstream type, stream, body."""


def _cases() -> list[Case]:
    return [
        (
            name,
            protocol,
            upstream,
            stream,
            json.dumps({**body, "model": model, "stream": stream}).encode(),
        )
        for name, protocol, body in battery()
        for upstream, model in MODELS_BY_PROVIDER.items()
        for stream in (False, True)
    ]


CASES = _cases()


def _decoded(protocol: str, upstream: str, body: bytes) -> tuple[ChatRequest, Any, RequestContext]:
    ctx = RequestContext()
    ctx.created = 0
    if protocol == "messages":
        model = json.loads(body)["model"]
        options = messages_decode.DecodeOptions(
            default_model=model, upstream_types={model: upstream}
        )
        return messages_decode.decode_request(body, ctx, options), None, ctx
    if protocol == "chat":
        return chat_decode.decode_request(body, ctx), None, ctx
    chat, options = responses_decode.decode_request(body, ctx)
    return chat, options, ctx


def build(protocol: str, upstream: str, body: bytes) -> tuple[Any, ...]:
    """The upstream body as the IR path makes it, a Responses client's echo, the warnings
    and the tool names renamed."""
    chat, options, ctx = _decoded(protocol, upstream, body)
    ctx.translating()
    built_body = upstream_body(chat, upstream, ctx)
    said = (list(ctx.warnings), list(ctx.translation_warnings), ctx.tool_names_back)
    return built_body, _echo(options, ctx), said


def upstream_body(chat: ChatRequest, upstream: str, ctx: RequestContext) -> bytes:
    provider = PROVIDERS[upstream]
    if chat.web_search is not None and not provider.capabilities.native_web_search:
        chat = prepare_request(chat, WebSearch(chat.web_search, None, ctx))
    return built(provider, chat, ROUTES[upstream], ctx).body


def _echo(options: Any, ctx: RequestContext) -> bytes | None:
    if options is None:
        return None
    shell = responses_encode.response_shell(ctx, options, "completed", "resp_1")
    return responses_encode.encode_echoing(shell)


def _outcome(case: Case) -> tuple[Any, ...] | str:
    _, protocol, upstream, _, body = case
    try:
        return build(protocol, upstream, body)
    except Exception as exc:  # a refusal is an outcome too, the same each time
        return f"{type(exc).__name__}: {exc}"


@contextmanager
def uncached() -> Iterator[None]:
    """Every cache of shared tools turned off (each request decodes and derives afresh)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec.CachedMember, "_cached", lambda self, text: self._decode(text))
        patch.setattr(SchemaMemo, "get", lambda self, schema, make: make(schema))
        patch.setattr(SchemaMemo, "peek", lambda self, schema: None)
        patch.setattr(SchemaMemo, "keep", lambda self, *args: None)
        yield


def _uncached_outcomes() -> dict[Case, Any]:
    with uncached():
        return {case: _outcome(case) for case in CASES}


def _assert_same(expected: dict[Case, Any], got: dict[Case, Any]) -> None:
    differ = [f"{c[0]} on {c[1]} to {c[2]} (stream={c[3]})" for c in CASES if got[c] != expected[c]]
    assert not differ, "\n".join(differ)


_CONSTANTS_TEXT = {name: codec.encode(value) for name, value in CONSTANTS.items()}


def _assert_caches_hold_their_keys() -> None:
    """Each kept list equal to a fresh decode of its text; each memo's result to what its
    key makes afresh; the shared constants as they were."""
    assert {name: codec.encode(value) for name, value in CONSTANTS.items()} == _CONSTANTS_TEXT
    for member in MEMBERS.values():
        for text, value in list(member._kept.values()):
            assert value == member._decode(text)
    for kind, declarations in DECLARATIONS.items():
        for schema, (name, description, strict, raw), _ in list(
            declarations._memo._entries.values()
        ):
            tool = FunctionTool(
                name=name, description=description, parameters=schema, strict=strict
            )
            assert bytes(raw) == codec.encode(declarations._declare(tool, RequestContext())), kind
    for schema, value, _ in list(gemini_schema._MEMO._entries.values()):
        assert value == gemini_schema._cleaned(schema)
    for tools, raw, _ in list(responses_encode._ECHOES._entries.values()):
        assert bytes(raw) == codec.encode(tools)


def test_the_caches_change_no_byte_and_nothing_shared() -> None:
    expected = _uncached_outcomes()
    assert sum(not isinstance(o, str) for o in expected.values()) >= 100  # mostly built
    for order in (CASES, CASES[::-1], CASES):  # warm, then again in another order
        _assert_same(expected, {case: _outcome(case) for case in order})
    with ThreadPoolExecutor(8) as pool:  # `polyrelay check`, the WebSocket turns
        threaded = dict(zip(CASES * 3, pool.map(_outcome, CASES * 3), strict=True))
    _assert_same(expected, threaded)
    _assert_caches_hold_their_keys()


def _bodies(protocol: str, upstream: str, tools: list[FunctionTool]) -> list[bytes]:
    """`tools` (sharing whatever objects they share) built for `upstream`, in each order."""
    chat = ChatRequest(model="m", messages=_HELLO, tools=tuple(tools))
    return [upstream_body(chat, upstream, RequestContext()) for _ in range(2)] + [
        upstream_body(
            msgspec.structs.replace(chat, tools=tuple(tools[::-1])), upstream, RequestContext()
        )
    ]


def test_one_schema_object_under_tools_of_other_names_descriptions_and_strict() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "p": {"$ref": "#/$defs/P", "title": "P"},
            "n": {"type": "integer", "minimum": 1},
        },
        "$defs": {"P": {"type": "string"}},
        "required": ["p", "n"],
        "additionalProperties": False,
    }
    text = codec.encode(schema)
    tools = [
        FunctionTool(name="a", description="first", parameters=schema),
        FunctionTool(name="b", description="second", parameters=schema),
        FunctionTool(name="a", description=None, parameters=schema, strict=False),
        FunctionTool(name="c", description="first", parameters=schema, strict=True),
        FunctionTool(name="x" * 70, description="first", parameters=schema),
    ]
    for upstream in MODELS_BY_PROVIDER:
        with uncached():
            expected = _bodies("chat", upstream, tools)
        for _ in range(2):
            assert _bodies("chat", upstream, tools) == expected, upstream
        for n in range(len(tools)):  # each tool first, so that its entry is the one kept
            order = tools[n:] + tools[:n]
            with uncached():
                expected = _bodies("chat", upstream, order)
            assert _bodies("chat", upstream, order) == expected, upstream
    assert codec.encode(schema) == text


def test_a_list_evicted_and_decoded_again_while_a_request_holds_the_old_one() -> None:
    body = json.dumps({**_CLAUDE_SET, "model": "m"}).encode()
    old, _, _ = _decoded("chat", "gemini", body)
    for n in range(20):  # more distinct lists than the member keeps
        other = {**_CLAUDE_SET, "model": "m", "tools": _CLAUDE_SET["tools"][n : n + 3]}
        _decoded("chat", "gemini", json.dumps(other).encode())
    new, _, _ = _decoded("chat", "gemini", body)
    assert new.tools[0].parameters is not old.tools[0].parameters  # decoded again
    for upstream in MODELS_BY_PROVIDER:
        with uncached():
            expected = upstream_body(old, upstream, RequestContext())
        for chat in (old, new, old, new):
            assert upstream_body(chat, upstream, RequestContext()) == expected, upstream
    _assert_caches_hold_their_keys()


@pytest.mark.parametrize("protocol", list(MEMBERS))
def test_a_list_with_unicode_escapes_is_the_list_it_writes(protocol: str) -> None:
    """`\\u00e9` and `é` are two texts (two entries) of one list: the same bytes upstream."""
    name = {"messages": "claude-code-tools", "chat": "claude-code-tools", "responses": "edge"}[
        protocol
    ]
    body = next(b for n, p, b in battery() if n == name and p == protocol)
    tool = body["tools"][0]
    declared = tool["function"] if protocol == "chat" else tool
    declared["description"] = 'Caf\u00e9 \U0001f600 \u2028 \\ " </script>'
    schema = declared["parameters" if protocol != "messages" else "input_schema"]
    schema["properties"] = {"\u00fcber": {"type": "string", "enum": ["\u00e9", "e\u0301"]}}
    escaped = json.dumps({**body, "model": "m"}, ensure_ascii=True).encode()
    literal = json.dumps({**body, "model": "m"}, ensure_ascii=False).encode()
    assert escaped != literal
    for upstream in MODELS_BY_PROVIDER:
        with uncached():
            expected = build(protocol, upstream, literal)
        for data in (escaped, literal, escaped, literal):
            assert build(protocol, upstream, data) == expected, upstream
    _assert_caches_hold_their_keys()


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_lists_at_the_size_bounds(delta: int) -> None:
    """A list just under, at and over CachedMember's 256 KB (and SchemaMemo's 512 KB with
    its declarations): kept or not, the same bytes."""
    member = MEMBERS["chat"]
    tool = {
        "type": "function",
        "function": {"name": "t0", "description": "", "parameters": {"type": "object"}},
    }
    base = len(codec.encode([tool]))
    tool["function"]["description"] = "d" * (member._max_bytes - base + delta)
    body = json.dumps({**_CLAUDE_SET, "model": "m", "tools": [tool]}, separators=(",", ":"))
    text = codec.encode([tool])
    assert len(text) == member._max_bytes + delta
    for upstream in MODELS_BY_PROVIDER:
        with uncached():
            expected = build("chat", upstream, body.encode())
        for _ in range(3):
            assert build("chat", upstream, body.encode()) == expected, upstream
    assert (text in member._kept) is (delta <= 0)
    _assert_caches_hold_their_keys()


_HELLO = (Message(role=Role.USER, parts=(TextPart(text="Hello"),)),)
_CLAUDE_SET = next(b for n, p, b in battery() if n == "claude-code-tools" and p == "chat")
