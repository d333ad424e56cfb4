"""The real models' output-token limits (providers/model_limits.py), the cap they put on a
translated request, and a thinking budget fitted beside the answer within one
(providers/anthropic/thinking_fit.py)."""

from __future__ import annotations

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import ChatRequest, Message, Role, TextPart
from polyrelay.providers.anthropic.thinking_fit import budget_beside_answer
from polyrelay.providers.model_limits import capped, output_limit, route_limit


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o", 16384),
        ("gpt-4o-2024-08-06", 16384),
        ("gpt-4o-mini", 16384),
        ("chatgpt-4o-latest", 16384),
        ("gpt-4o-2024-05-13", 4096),
        ("gpt-4.1", 32768),
        ("gpt-4.1-nano-2025-04-14", 32768),
        ("gpt-4-turbo", 4096),
        ("gpt-4-0125-preview", 4096),
        ("gpt-3.5-turbo", 4096),
        ("gpt-4", 8192),
        ("gpt-4-0613", 8192),
        ("o1", 100000),
        ("o3-mini", 100000),
        ("o4-mini-2025-04-16", 100000),
        ("o1-mini", 65536),
        ("gpt-5", 128000),
        ("gpt-5-mini", 128000),
        ("gpt-5.1-codex", 128000),
        ("gpt-5-chat-latest", 16384),
        ("gpt-5.1-chat-latest", 16384),
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-opus-20240229", 4096),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-5-haiku-latest", 8192),
        ("claude-3-7-sonnet-20250219", 64000),
        ("claude-sonnet-4-20250514", 64000),
        ("claude-sonnet-4-5", 64000),
        ("claude-sonnet-4-5-20250929", 64000),
        ("claude-opus-4-20250514", 32000),
        ("claude-opus-4-1", 32000),
        ("claude-opus-4-1-20250805", 32000),
        ("claude-opus-4-5-20251101", 64000),
        ("claude-haiku-4-5", 64000),
        ("claude-opus-4-6", 128000),
        ("claude-opus-4-8", 128000),  # Claude Code's default model
        ("claude-sonnet-4-6", 128000),
        ("claude-sonnet-5", 128000),
        ("claude-opus-5-5", 128000),
        ("claude-haiku-5-5-20260801", 128000),
        ("claude-3-5-sonnet-v2@20241022", 8192),
        ("gemini-2.5-pro", 65536),
        ("gemini-2.5-flash-lite", 65536),
        ("models/gemini-2.5-flash", 65536),
        ("gemini-2.0-flash", 8192),
        ("gemini-2.0-flash-lite-001", 8192),
    ],
)
def test_known_models_have_their_limit(model: str, limit: int) -> None:
    assert output_limit(model) == limit


@pytest.mark.parametrize(
    "model", ["qwen2.5:0.5b", "llama-3.1-8b-instruct", "gpt-oss-20b", "my-deployment", "m"]
)
def test_unknown_models_have_none(model: str) -> None:
    assert output_limit(model) is None


def test_the_configured_limit_wins_over_the_table() -> None:
    assert route_limit(route("openai", upstream="gpt-4o")) == 16384
    assert route_limit(route("openai", upstream="gpt-4o", max_output_tokens=2000)) == 2000
    assert route_limit(route("openai", upstream="qwen", max_output_tokens=9000)) == 9000
    assert route_limit(route("openai", upstream="qwen")) is None


def _asking(max_tokens: int | None) -> ChatRequest:
    hi = Message(role=Role.USER, parts=(TextPart(text="hi"),))
    return ChatRequest(model="m", messages=(hi,), max_tokens=max_tokens)


def test_a_request_past_the_limit_is_lowered_and_warned() -> None:
    ctx = RequestContext()
    out = capped(_asking(32000), route("openai", upstream="gpt-4o"), ctx)
    assert out.max_tokens == 16384
    assert list(ctx.warnings) == [
        "max_tokens 32000 is above the 16384 output tokens 'gpt-4o' takes; lowered to 16384"
    ]


@pytest.mark.parametrize(
    ("asked", "upstream"), [(16384, "gpt-4o"), (None, "gpt-4o"), (10**6, "qwen")]
)
def test_a_request_within_or_without_a_limit_is_kept(asked: int | None, upstream: str) -> None:
    ctx = RequestContext()
    request = _asking(asked)
    assert capped(request, route("openai", upstream=upstream), ctx) is request
    assert not ctx.warnings


def test_a_budget_and_answer_that_fit_are_sent_whole() -> None:
    ctx = RequestContext()
    thinking, max_tokens = budget_beside_answer(
        24576, 4096, route("anthropic", upstream="claude-opus-4-1"), ctx
    )
    assert thinking is not None and thinking.budget_tokens == 24576
    assert max_tokens == 28672 and not ctx.warnings


@pytest.mark.parametrize(
    ("budget", "answer", "sent_budget", "room"),
    [
        (24576, 16000, 24576, 7424),  # the answer's room gives way first
        (32000, 4096, 30976, 1024),  # then the budget, the answer keeping 1024
        (31800, 500, 31500, 500),  # an answer asked smaller keeps its own size
    ],
)
def test_the_answer_then_the_budget_give_way_to_the_limit(
    budget: int, answer: int, sent_budget: int, room: int
) -> None:
    ctx = RequestContext()
    opus = route("anthropic", upstream="claude-opus-4-1")
    thinking, max_tokens = budget_beside_answer(budget, answer, opus, ctx)
    assert thinking is not None and thinking.budget_tokens == sent_budget
    assert max_tokens == 32000 == sent_budget + room
    assert any(f"sent a budget of {sent_budget} and {room}" in w for w in ctx.warnings)


def test_thinking_goes_when_the_least_budget_cannot_fit() -> None:
    ctx = RequestContext()
    small = route("anthropic", upstream="claude-sonnet-4-5", max_output_tokens=1500)
    thinking, max_tokens = budget_beside_answer(2048, 1500, small, ctx)
    assert thinking is None and max_tokens == 1500
    assert "thinking was turned off: Anthropic's least budget of 1024" in ctx.warnings[0]
