from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion

from polyrelay.context import RequestContext
from polyrelay.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    UpstreamError,
    UpstreamTimeoutError,
)
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.ir import (
    ChatResponse,
    Citation,
    Part,
    ReasoningPart,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)

FRONTEND = OpenAIChatFrontend()


def _ctx() -> RequestContext:
    ctx = RequestContext(model="my-model")
    ctx.created = 1767225600
    return ctx


def _response(
    *parts: Part, stop: StopReason = StopReason.END_TURN, usage: Usage | None = None
) -> ChatResponse:
    return ChatResponse(
        id="up", model="upstream", parts=tuple(parts), stop_reason=stop, usage=usage or Usage()
    )


def test_text_response_validates_with_the_sdk() -> None:
    usage = Usage(input_tokens=20, output_tokens=5, cache_read_tokens=8, reasoning_tokens=2)
    raw = FRONTEND.encode(
        [_response(TextPart(text="Hel"), TextPart(text="lo"), usage=usage)], _ctx()
    )
    completion = ChatCompletion.model_validate_json(raw)
    assert completion.id.startswith("chatcmpl-")
    assert (completion.object, completion.created, completion.model) == (
        "chat.completion",
        1767225600,
        "my-model",
    )
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason, choice.message.content) == (0, "stop", "Hello")
    assert choice.message.role == "assistant" and choice.message.refusal is None
    assert choice.message.tool_calls is None and choice.logprobs is None
    assert completion.usage is not None
    assert (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    ) == (20, 5, 25)
    assert (
        completion.usage.prompt_tokens_details
        and completion.usage.prompt_tokens_details.cached_tokens == 8
    )
    assert (
        completion.usage.completion_tokens_details
        and completion.usage.completion_tokens_details.reasoning_tokens == 2
    )
    assert "reasoning_content" not in json.loads(raw)["choices"][0]["message"]


def test_tool_calls_only_gives_null_content() -> None:
    resp = _response(
        ToolCallPart(id="call_1", name="f", arguments='{"a": 1}'),
        ToolCallPart(id="call_2", name="g", arguments="{}"),
        stop=StopReason.TOOL_USE,
    )
    raw = FRONTEND.encode([resp], _ctx())
    choice = ChatCompletion.model_validate_json(raw).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert json.loads(raw)["choices"][0]["message"]["content"] is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_1", "function", "f", '{"a": 1}'),
        ("call_2", "function", "g", "{}"),
    ]


def test_reasoning_is_returned_as_reasoning_content() -> None:
    raw = FRONTEND.encode([_response(ReasoningPart(text="hmm"), TextPart(text="4"))], _ctx())
    message = json.loads(raw)["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("hmm", "4")
    ChatCompletion.model_validate_json(raw)


def test_citations_become_url_citation_annotations() -> None:
    cited = TextPart(
        text="Oslo is wet.",
        citations=(Citation(url="https://w", title="W", start_index=0, end_index=4),),
    )
    raw = FRONTEND.encode([_response(TextPart(text="Yes. "), cited)], _ctx())
    annotations = ChatCompletion.model_validate_json(raw).choices[0].message.annotations or []
    (a,) = annotations
    assert (a.url_citation.start_index, a.url_citation.end_index, a.url_citation.url) == (
        5,
        9,
        "https://w",
    )


def test_n_choices_sum_usage() -> None:
    responses = [
        _response(TextPart(text="a"), usage=Usage(input_tokens=10, output_tokens=1)),
        _response(
            TextPart(text="b"),
            stop=StopReason.MAX_TOKENS,
            usage=Usage(input_tokens=10, output_tokens=2),
        ),
    ]
    completion = ChatCompletion.model_validate_json(FRONTEND.encode(responses, _ctx()))
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]
    assert completion.usage is not None and completion.usage.total_tokens == 23


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        (StopReason.END_TURN, "stop"),
        (StopReason.STOP_SEQUENCE, "stop"),
        (StopReason.PAUSE_TURN, "stop"),
        (StopReason.MAX_TOKENS, "length"),
        (StopReason.CONTEXT_WINDOW, "length"),
        (StopReason.TOOL_USE, "tool_calls"),
        (StopReason.REFUSAL, "content_filter"),
    ],
)
def test_every_stop_reason_maps(stop: StopReason, finish: str) -> None:
    raw = FRONTEND.encode([_response(TextPart(text="x"), stop=stop)], _ctx())
    assert ChatCompletion.model_validate_json(raw).choices[0].finish_reason == finish


@pytest.mark.parametrize(
    ("error", "status", "type_", "code"),
    [
        (InvalidRequestError("bad", param="temperature"), 400, "invalid_request_error", None),
        (AuthenticationError("no key"), 401, "invalid_request_error", "invalid_api_key"),
        (PermissionDeniedError("nope"), 403, "invalid_request_error", "permission_denied"),
        (
            NotFoundError("no model", code="model_not_found"),
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (NotFoundError("no such response"), 404, "invalid_request_error", None),
        (RequestTooLargeError("big"), 413, "invalid_request_error", "request_too_large"),
        (RateLimitError("slow", retry_after="3"), 429, "rate_limit_error", "rate_limit_exceeded"),
        (
            UpstreamError("quota", status=429, kind="rate_limit_error", code="insufficient_quota"),
            429,
            "rate_limit_error",
            "insufficient_quota",
        ),
        (UpstreamError("boom", status=500), 500, "server_error", None),
        (UpstreamError("creds", status=500, kind="api_error"), 500, "server_error", None),
        (OverloadedError("busy"), 503, "server_error", "overloaded"),
        (UpstreamTimeoutError("slow"), 504, "server_error", "timeout"),
        (UpstreamError("weird", status=418, kind="api_error"), 418, "invalid_request_error", None),
    ],
)
def test_error_bodies(error: GatewayError, status: int, type_: str, code: str | None) -> None:
    got_status, body = FRONTEND.encode_error(error)
    assert got_status == status
    assert json.loads(body) == {
        "error": {"message": error.message, "type": type_, "param": error.param, "code": code}
    }
