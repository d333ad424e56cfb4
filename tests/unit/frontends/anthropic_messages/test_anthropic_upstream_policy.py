"""What the Anthropic frontend forwards, maps, warns about or refuses per upstream type:
max_tokens, server tools, betas, tool-id round-trip data, the fast path's body edits."""

from __future__ import annotations

import json
import math

import pytest
from starlette.datastructures import Headers
from tests.unit.builders import route as build_route

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends import EncodesErrorInContext, PassthroughHooks, ReadsHeaders
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.frontends.anthropic_messages.betas import betas_from_headers
from polyrelay.frontends.anthropic_messages.content import (
    signature_token,
)
from polyrelay.frontends.anthropic_messages.encode import encode_response
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    FunctionTool,
    ImagePart,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.ir.tool_ids import (
    id_with_extensions,
    outgoing_response,
    restore_request,
    split_id,
)
from polyrelay.providers.anthropic.request import passthrough_request
from polyrelay.web.count_tokens import estimate_tokens

UPSTREAMS = {"a": "anthropic", "o": "openai", "r": "openai-responses", "g": "gemini"}
FRONTEND = AnthropicMessagesFrontend("a", upstream_types=UPSTREAMS)


def decode(body: object, ctx: RequestContext | None = None, headers: object = None):
    ctx = ctx or RequestContext()
    if headers is not None:
        FRONTEND.note_headers(Headers(raw=headers), ctx)  # type: ignore[arg-type]
    return FRONTEND.decode(json.dumps(body).encode(), ctx), ctx


def test_frontend_implements_the_optional_protocols() -> None:
    assert isinstance(FRONTEND, ReadsHeaders)
    assert isinstance(FRONTEND, EncodesErrorInContext)
    assert isinstance(FRONTEND, PassthroughHooks)


@pytest.mark.parametrize("model", ["o", "r", "g"])
def test_max_tokens_above_limit_is_clamped_with_warning(model: str) -> None:
    request, ctx = decode({"model": model, "messages": "x", "max_tokens": 64000})
    assert request.max_tokens == 32000
    assert any("max_tokens 64000" in w and "clamped" in w for w in ctx.warnings)


def test_max_tokens_on_the_fast_path_is_forwarded_with_warning() -> None:
    """The fast path forwards both values unchanged: only the limit is said, and the
    clamp (with the budget it lowers) only once the request is translated."""
    body = {
        "model": "a",
        "messages": "x",
        "max_tokens": 64000,
        "thinking": {"type": "enabled", "budget_tokens": 40000},
    }
    _, ctx = decode(body)
    assert any("max_tokens 64000 is above" in w for w in ctx.warnings)
    assert not any("clamped" in w or "lowered" in w for w in ctx.warnings)
    ctx.translating()
    assert any("max_tokens clamped to 32000" in w for w in ctx.warnings)
    assert any("budget_tokens lowered to 31999" in w for w in ctx.warnings)


def test_thinking_budget_follows_a_clamped_max_tokens() -> None:
    body = {
        "model": "o",
        "messages": "x",
        "max_tokens": 64000,
        "thinking": {"type": "enabled", "budget_tokens": 63999},
    }
    request, ctx = decode(body)
    assert request.reasoning is not None and request.reasoning.budget_tokens == 31999
    assert any("budget_tokens lowered" in w for w in ctx.warnings)


BASH = {"type": "bash_20250124", "name": "bash"}


def test_server_tools_are_left_to_the_anthropic_fast_path() -> None:
    request, _ = decode({"model": "a", "messages": "x", "tools": [BASH]})
    assert request.tools == ()


@pytest.mark.parametrize("model", ["o", "r", "g", "unknown"])
def test_server_tools_are_refused_elsewhere(model: str) -> None:
    with pytest.raises(UnsupportedError, match=r"tools\.0\.type: .*bash_20250124") as info:
        decode({"model": model, "messages": "x", "tools": [BASH]})
    assert info.value.status == 400 and info.value.param == "tools.0.type"


def test_uncarried_and_unknown_fields_are_warned_only_once_translated() -> None:
    body = {"messages": "x", "context_management": {"edits": []}, "brand_new": 1}
    _, fast = decode({**body, "model": "a"})
    _, ir = decode({**body, "model": "g"})
    assert fast.warnings == [] and ir.warnings == []  # the pipeline has not chosen yet
    ir.translating()
    assert ir.warnings == [
        "context_management is not carried to the gemini upstream; ignored",
        "brand_new is not a Messages field this gateway knows; ignored",
    ]


@pytest.mark.parametrize("value", ["yes", 1, {}])
def test_async_must_be_a_boolean(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="async"):
        decode({"model": "a", "messages": "x", "async": value})


def test_async_false_is_the_plain_call_and_no_warning() -> None:
    _, ctx = decode({"model": "g", "messages": "x", "async": False})
    ctx.translating()
    assert ctx.warnings == []


def test_betas_from_repeated_headers_and_lists() -> None:
    headers = Headers(
        raw=[
            (b"anthropic-beta", b"a-1, b-2"),
            (b"anthropic-beta", b"c-3"),
            (b"anthropic-beta", b"a-1"),
        ]
    )
    assert betas_from_headers(headers) == ("a-1", "b-2", "c-3")
    assert betas_from_headers({"anthropic-beta": "x,y"}) == ("x", "y")
    assert betas_from_headers({}) == ()


def test_behaviour_changing_betas_warn_off_anthropic() -> None:
    raw = [(b"anthropic-beta", b"context-1m-2025-08-07,interleaved-thinking-2025-05-14,zz-1")]
    _, ctx = decode({"model": "o", "messages": "x"}, headers=raw)
    text = " ".join(ctx.warnings)
    assert "context-1m-2025-08-07" in text and "zz-1" in text
    assert "interleaved-thinking" not in text
    _, fast = decode({"model": "a", "messages": "x"}, headers=raw)
    assert fast.warnings == []


def test_tool_ids_carry_extensions_and_decode_back() -> None:
    wire = id_with_extensions("call_1", {"gemini.thought_signature": "c2ln"})
    assert wire.startswith("call_1__gw1_")
    assert all(c.isalnum() or c in "_-" for c in wire)
    assert split_id(wire) == ("call_1", {"gemini.thought_signature": "c2ln"})
    assert split_id("toolu_plain") == ("toolu_plain", {})
    assert split_id("x__gw1_!!") == ("x__gw1_!!", {})
    assert id_with_extensions("toolu_1", {}) == "toolu_1"


def test_tool_call_extensions_survive_encode_and_decode() -> None:
    call = ToolCallPart(id="c1", name="f", arguments="{}", extensions={"gemini.k": "v"})
    response = ChatResponse(
        id="r1", model="g", parts=(call,), stop_reason=StopReason.TOOL_USE, usage=Usage()
    )
    # The pipeline folds extensions into ids before encoding and splits them after decoding.
    wire = outgoing_response(response)
    block = json.loads(encode_response(wire, RequestContext()))["content"][0]
    body = {
        "model": "g",
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [block]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "r"}],
            },
        ],
    }
    request = restore_request(decode(body)[0])
    assert request.messages[1].parts[0] == call
    assert request.messages[2].parts[0].tool_call_id == "c1"  # type: ignore[union-attr]


def test_passthrough_body_normalises_service_additions() -> None:
    """(Extended tool ids are split in the relay, for every protocol: the integration
    test test_extended_ids_fast_path.)"""
    out = FRONTEND.passthrough_body({"messages": []}, RequestContext())
    assert out["max_tokens"] == 4096
    plain = FRONTEND.passthrough_body({"messages": "hi", "max_tokens": 9}, RequestContext())
    assert plain == {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}


def test_fast_path_drops_thinking_another_provider_issued() -> None:
    foreign = {"type": "thinking", "thinking": "t", "signature": signature_token("gemini", "s")}
    own = {"type": "thinking", "thinking": "t", "signature": "EqQB"}
    text = {"type": "text", "text": "yo"}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [foreign, own, text]},
        {"role": "user", "content": "more"},
    ]
    body = {"model": "a", "max_tokens": 50, "messages": messages}
    _, ctx = decode(body)
    assert ctx.foreign_reasoning and ctx.warnings
    out = FRONTEND.passthrough_body(json.loads(json.dumps(body)), ctx)
    assert out["messages"][1]["content"] == [own, text]
    _, plain = decode({**body, "messages": [messages[0]]})
    assert not plain.foreign_reasoning


def test_fast_path_request_replaces_the_model_and_forwards_betas() -> None:
    route = build_route("anthropic", public="a", upstream="a-up", base_url="https://a.test")
    body = {"model": "a", "messages": [{"role": "user", "content": "hi"}]}
    request = passthrough_request(body, route, True, {"anthropic-beta": "b-1"})
    sent = json.loads(request.body)
    assert sent == {**body, "model": "a-up"}
    assert request.headers["anthropic-beta"] == "b-1"


def test_encode_error_in_context_carries_the_request_id() -> None:
    ctx = RequestContext()
    status, body = FRONTEND.encode_error_in(InvalidRequestError("bad"), ctx)
    assert status == 400 and json.loads(body)["request_id"] == ctx.request_id


def test_count_estimate_is_chars_over_four_plus_media() -> None:
    request = ChatRequest(
        model="o",
        system=(TextPart(text="abcd"),),
        tools=(FunctionTool(name="f", description="dd", parameters={"type": "object"}),),
        messages=(Message(role=Role.USER, parts=(TextPart(text="hello"), ImagePart(url="u"))),),
    )
    chars = len("abcd") + len("f") + len("dd") + len('{"type":"object"}') + len("hello")
    assert estimate_tokens(request) == math.ceil(chars / 4) + 1600
