from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.frontends.anthropic_messages.content import signature_token
from polyrelay.ir import (
    DocumentPart,
    ImagePart,
    OutputFormatKind,
    ReasoningConfig,
    ReasoningPart,
    Role,
    ServerToolCallPart,
    ServerToolResultPart,
    TextPart,
    ToolCallPart,
    ToolChoiceMode,
    ToolResultPart,
)

CLIENTS = Path(__file__).parents[3] / "fixtures" / "clients" / "anthropic"
FRONTEND = AnthropicMessagesFrontend(default_model="claude-opus-4-6")


_BMP = {"type": "base64", "media_type": "image/bmp", "data": "AAAA"}


def _decode(body: object, ctx: RequestContext | None = None):
    return FRONTEND.decode(json.dumps(body).encode(), ctx or RequestContext())


def test_every_block_type_decodes() -> None:
    ctx = RequestContext()
    request = FRONTEND.decode((CLIENTS / "all-blocks.json").read_bytes(), ctx)
    assert request.model == "claude-opus-4-6"
    assert request.system == (
        TextPart(text="top", cache_control="5m"),
        TextPart(text="leading system"),
    )
    roles = [m.role for m in request.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.USER, Role.SYSTEM]
    user = request.messages[0].parts
    assert user[0] == TextPart(text="look", cache_control="5m")
    assert user[1] == ImagePart(media_type="image/png", data="iVBOR")
    assert user[2] == ImagePart(url="https://x.test/a.png")
    assert user[3] == DocumentPart(media_type="application/pdf", data="JVBER", title="doc")
    assert user[4] == DocumentPart(media_type="text/plain", text="plain")
    assert user[5] == ImagePart(media_type="image/webp", data="UklG")
    assert user[6] == DocumentPart(media_type="application/pdf", url="https://x.test/r.pdf")
    assert user[7] == DocumentPart(media_type="text/csv", data="YSxi", filename="t.csv")
    assistant = request.messages[1].parts
    assert assistant[0] == ReasoningPart(text="hmm", signature="sigA", origin="anthropic")
    assert assistant[1] == ReasoningPart(signature="red", origin="anthropic", redacted=True)
    assert assistant[3] == ToolCallPart(id="toolu_1", name="get", arguments='{"city": "Oslo"}')
    assert isinstance(assistant[4], ServerToolCallPart)
    assert assistant[5] == ServerToolResultPart(
        tool_call_id="srvtoolu_1", error_code="max_uses_exceeded"
    )
    assert request.messages[2].parts == (
        ToolResultPart(tool_call_id="toolu_1", content=(TextPart(text="snow"),), is_error=True),
    )
    assert request.messages[3].parts == (TextPart(text="thanks"),)
    assert request.messages[4].parts == (TextPart(text="mid system"),)
    assert (request.max_tokens, request.temperature, request.top_p, request.top_k) == (
        3000,
        0.5,
        0.9,
        3,
    )
    assert request.stop == ("END",) and request.user == "u-1" and request.stream
    assert request.tools[0].parameters is not None and "$schema" in request.tools[0].parameters
    assert request.web_search is not None and request.web_search.blocked_domains == ("x.test",)
    assert request.tool_choice is not None and request.tool_choice.mode is ToolChoiceMode.AUTO
    assert request.parallel_tool_calls is False
    assert request.reasoning == ReasoningConfig(budget_tokens=2048, effort="high")
    assert request.output_format is not None
    assert request.output_format.kind is OutputFormatKind.JSON_SCHEMA
    assert any("context_management" in w for w in ctx.translation_warnings)


def test_plain_string_messages_and_defaults() -> None:
    request = _decode({"messages": "hello"})
    assert request.model == "claude-opus-4-6" and request.max_tokens == 4096
    assert request.messages[0].parts == (TextPart(text="hello"),)


def test_gateway_signature_round_trip() -> None:
    for origin, signature in (("gemini", "gsig=="), ("openai-responses", None)):
        token = signature_token(origin, signature)
        assert token.startswith("gw1.")
        body = {
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "t", "signature": token}],
                },
            ]
        }
        part = _decode(body).messages[1].parts[0]
        assert part == ReasoningPart(text="t", signature=signature, origin=origin)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": "x", "max_tokens": 1.5}, "max_tokens"),
        ({"messages": "x", "max_tokens": 0}, "max_tokens"),
        ({"messages": "x", "max_tokens": -3}, "max_tokens"),
        ({"messages": "x", "temperature": 1.5}, "temperature"),
        ({"messages": "x", "top_p": -0.1}, "top_p"),
        ({"messages": "x", "top_k": -1}, "top_k"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/heic",
                                    "data": "x",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.source.media_type",
        ),
        (
            {"messages": "x", "thinking": {"type": "enabled", "budget_tokens": 500}},
            "thinking.budget_tokens",
        ),
        (
            {
                "messages": "x",
                "max_tokens": 2000,
                "thinking": {"type": "enabled", "budget_tokens": 2000},
            },
            "thinking.budget_tokens",
        ),
        (
            {
                "messages": "x",
                "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 21}],
            },
            "tools.0.max_uses",
        ),
        (
            {
                "messages": "x",
                "tools": [
                    {
                        "type": "web_search_20250305",
                        "name": "web_search",
                        "allowed_domains": ["a"],
                        "blocked_domains": ["b"],
                    }
                ],
            },
            "tools.0.allowed_domains",
        ),
        ({"messages": "x", "tools": [{"name": "f"}]}, "tools.0.input_schema"),
        ({"messages": "x", "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "thinking", "thinking": "t", "signature": "gw1.!!"}],
                    }
                ]
            },
            "messages.0.content.0.signature",
        ),
        ({"messages": []}, "messages"),
        # Paths the decoder writes out only when it needs them (never for text or tool use)
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "b"},
                            {"type": "tool_result", "tool_use_id": "t", "content": "x"},
                        ],
                    },
                ]
            },
            "messages.1.content.1.type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [
                                    {"type": "text", "text": "ok"},
                                    {"type": "image", "source": _BMP},
                                ],
                            }
                        ],
                    },
                ]
            },
            "messages.2.content.0.content.1.source.media_type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "a"},
                            {"type": "file_data", "data": "x", "media_type": "audio/wav"},
                        ],
                    }
                ]
            },
            "messages.0.content.1",
        ),
    ],
)
def test_field_errors_name_the_field(body: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _decode(body)
    assert info.value.message.startswith(f"{field}: ")
    assert info.value.param in (None, field)
    assert info.value.status == 400


def test_a_block_of_an_unknown_type_is_left_to_the_fast_path() -> None:
    """Anthropic's own newer blocks (search_result...) are relayed to an Anthropic upstream
    as sent; a translated request is refused, naming the block."""
    ctx = RequestContext()
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "audio"}]}
        ]
    }
    request = _decode(body, ctx)
    assert request.messages[0].parts == (TextPart(text="a"),)
    assert ctx.untranslatable is not None
    assert ctx.untranslatable.message.startswith(
        "messages.0.content.1: content blocks of type 'audio'"
    )


def test_unsupported_media_type_lists_allowed_ones() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "file_data", "data": "x", "media_type": "audio/wav"}],
            }
        ]
    }
    with pytest.raises(InvalidRequestError, match=r"audio/wav.*application/pdf.*image/webp"):
        _decode(body)


CLAUDE_CODE_SAMPLES = sorted(CLIENTS.glob("claude_code_*.json"))


@pytest.mark.parametrize("path", CLAUDE_CODE_SAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("upstream", ["openai", "gemini", "anthropic"])
def test_claude_code_captures_decode(path: Path, upstream: str) -> None:
    """Every captured Claude Code request (copied unchanged from shared/clients/samples)."""
    body = json.dumps(json.loads(path.read_text())["body"]).encode()
    model = json.loads(body)["model"]
    frontend = AnthropicMessagesFrontend(
        default_model="claude-opus-4-6", upstream_types={model: upstream}
    )
    ctx = RequestContext()
    request = frontend.decode(body, ctx)
    assert len(request.system) == 3 and request.system[1].cache_control
    assert request.messages[0].role is Role.USER
    assert len(request.tools) > 10 and request.user is not None and request.stream
    assert all(t.parameters and "$schema" in t.parameters for t in request.tools)
    assert request.reasoning is not None
    # Claude Code asks for up to 64000; the service limit is 32000.
    assert request.max_tokens == 32000
    if path.stem != "claude_code_haiku_model":
        assert request.messages[1].role is Role.SYSTEM
        assert any("max_tokens 64000" in w for w in ctx.warnings)
    if path.stem == "claude_code_tool_result_turn":
        assert request.messages[-1].role is Role.TOOL
    # Claude Code's context_management: kept for an Anthropic upstream, should the request
    # leave the fast path; elsewhere it has no room in the IR, a loss once translated.
    if upstream == "anthropic":
        assert "anthropic.context_management" in request.extensions
        assert not any("context_management" in w for w in ctx.translation_warnings)
    else:
        assert any("context_management" in w for w in ctx.translation_warnings)
    assert not any("context_management" in w for w in ctx.warnings)


def test_claude_code_samples_are_present() -> None:
    assert len(CLAUDE_CODE_SAMPLES) >= 3
