"""Anthropic `MessageCreateParams` → IR ChatRequest, with the service's additions.

Additions (DESIGN.md `/v1/messages`): `messages` may be a plain string; `model` may be
omitted (the configured default); `max_tokens` defaults to 4096 within 1-32000 (values
above are clamped with a warning, since Claude Code sends 64000). Fields and server tools
only Anthropic understands are left to the fast path when the model's upstream is
Anthropic, and warned about (fields) or refused (server tools) for any other upstream.
Turn rules (ir/messages.py): `role: "system"` messages before the first user/assistant
message join `ChatRequest.system`, later ones stay SYSTEM messages in position; a user
turn holding tool results becomes a TOOL message then a USER message with the rest.
Validation errors name the field as `messages.0.content.1.type: ...`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from polyrelay.codec import CachedMember
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.anthropic_messages.betas import warn_betas
from polyrelay.frontends.anthropic_messages.content import block_to_ir, cache_ttl_to_ir
from polyrelay.frontends.anthropic_messages.tools import (
    WEB_SEARCH_TYPE,
    reasoning_to_ir,
    tool_choice_to_ir,
    tools_to_ir,
)
from polyrelay.frontends.anthropic_messages.unknown_blocks import (
    refuse_translated,
    without_unknown_blocks,
)
from polyrelay.ir import (
    ChatRequest,
    Message,
    Part,
    ReasoningConfig,
    ReasoningPart,
    Role,
    TextPart,
    ToolResultPart,
    may_be_emptied,
)
from polyrelay.schemas.anthropic_messages import (
    MessageCreateParams,
    MessageCreateParamsStrict,
    MessageParam,
    TextBlock,
    ToolParam,
)

__all__ = [
    "ANTHROPIC",
    "DEFAULT_MAX_TOKENS",
    "MAX_TOKENS_LIMIT",
    "DecodeOptions",
    "HeaderState",
    "decode_request",
    "messages_to_ir",
]

DEFAULT_MAX_TOKENS = 4096
MAX_TOKENS_LIMIT = 32000
ANTHROPIC = "anthropic"
_COUNTING_LIMIT = 1 << 31
_NO_PREFILL = ("openai", "openai-responses")
_PATH_INDEX = re.compile(r"\[(\d+)\]")
_UNCARRIED = (
    "service_tier",
    "context_management",
    "container",
    "mcp_servers",
    "inference_geo",
    "speed",
    "diagnostics",
    "cache_control",
)
# Anthropic's service tiers in OpenAI's words (ChatRequest.service_tier); any other value
# is not carried (warned), as the fields above.
_SERVICE_TIERS = {"auto": "auto", "standard_only": "default"}
_WITH_TOOLS = CachedMember(
    MessageCreateParamsStrict, MessageCreateParams, "tools", list[ToolParam] | None
)
"""The body, its tool list (the same on every turn of a client) decoded once per list."""


def _field_error(exc: msgspec.ValidationError) -> InvalidRequestError:
    text = str(exc)
    message, sep, path = text.rpartition(" - at `")
    if not sep:
        return InvalidRequestError(text)
    field = _PATH_INDEX.sub(r".\1", path.rstrip("`")).removeprefix("$").lstrip(".")
    return InvalidRequestError(f"{field}: {message}", param=field)


class DecodeOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What decoding needs to know beyond the body: the configured default model, the
    max_tokens limit, and which upstream type serves each public model (decode runs
    before routing, but what is forwarded, mapped or refused depends on the upstream)."""

    default_model: str
    max_tokens_limit: int = MAX_TOKENS_LIMIT
    upstream_types: dict[str, str] = msgspec.field(default_factory=dict)


class HeaderState(msgspec.Struct, frozen=True, kw_only=True):
    """What `note_headers` read, kept in `ctx.frontend_state` for decode."""

    betas: tuple[str, ...] = ()


def decode_request(
    body: bytes, ctx: RequestContext, options: DecodeOptions, *, counting: bool = False
) -> ChatRequest:
    """`counting`: a count_tokens body, which has no max_tokens, sampling or stream."""
    params, unknown = _decode_params(body, ctx)
    model = params.model or options.default_model
    upstream = options.upstream_types.get(model)
    system, messages = messages_to_ir(params, ctx)
    # The fast path relays the client's body to an Anthropic upstream unless a content
    # block needs the gateway (messages_to_ir clears passthrough_ok then).
    passthrough = upstream == ANTHROPIC and ctx.passthrough_ok
    requested = DEFAULT_MAX_TOKENS if params.max_tokens is None else params.max_tokens
    max_tokens = _max_tokens(requested, options.max_tokens_limit, passthrough, ctx)
    to_anthropic = upstream == ANTHROPIC
    extensions = _anthropic_extensions(params) if to_anthropic else {}
    if not to_anthropic:
        _warn_uncarried(params, upstream or "non-Anthropic", ctx)
    else:
        _warn_cache_loss(params, ctx)
    _warn_unknown(unknown, ctx)
    _warn_prefill(messages, upstream, ctx)
    if not passthrough:
        _warn_betas(upstream or "non-Anthropic", ctx)
    elif _has_foreign_reasoning(messages):
        ctx.foreign_reasoning = True
        ctx.warn("reasoning from another provider was dropped from the history")
    # To Anthropic, server tools ride in `extensions` (the client's own tool list).
    tools, web_search = tools_to_ir(params.tools, ctx, forward_server_tools=to_anthropic)
    tool_choice, parallel = tool_choice_to_ir(params.tool_choice)
    budget_limit = _COUNTING_LIMIT if counting else requested
    reasoning, output_format = reasoning_to_ir(params.thinking, params.output_config, budget_limit)
    reasoning = _fit_budget(reasoning, max_tokens, passthrough, ctx)
    return ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        web_search=web_search,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        stop=tuple(params.stop_sequences or ()),
        user=params.metadata.user_id if params.metadata else None,
        output_format=output_format,
        service_tier=_service_tier(params.service_tier),
        reasoning=reasoning,
        stream=bool(params.stream) and not counting,
        extensions=extensions,
    )


def _max_tokens(requested: int, limit: int, passthrough: bool, ctx: RequestContext) -> int:
    """1..limit; above the limit is clamped with a warning (Claude Code asks for 64000),
    except that the fast path forwards the client's value to Anthropic unchanged."""
    if requested < 1:
        raise InvalidRequestError(
            f"max_tokens: must be between 1 and {limit}, got {requested}", param="max_tokens"
        )
    if requested <= limit:
        return requested
    if not passthrough:
        ctx.warn(f"max_tokens {requested} is above the documented limit of {limit}; clamped")
        return limit
    # The fast path forwards the client's value; should the request leave it (a document
    # the gateway converts), the clamp applies, and only then is it said.
    ctx.warn(f"max_tokens {requested} is above the documented limit of {limit}")
    ctx.warn_translated(f"max_tokens clamped to {limit}")
    return limit


def _fit_budget(
    reasoning: ReasoningConfig | None, max_tokens: int, passthrough: bool, ctx: RequestContext
) -> ReasoningConfig | None:
    """A thinking budget valid for the client's max_tokens but not for the clamped one;
    the fast path forwards the client's budget, so there it is said only if translated."""
    if reasoning is None or reasoning.budget_tokens is None:
        return reasoning
    if reasoning.budget_tokens < max_tokens:
        return reasoning
    warn = ctx.warn_translated if passthrough else ctx.warn
    warn(f"thinking.budget_tokens lowered to {max_tokens - 1} to fit the clamped max_tokens")
    return msgspec.structs.replace(reasoning, budget_tokens=max_tokens - 1)


def _has_foreign_reasoning(messages: tuple[Message, ...]) -> bool:
    return any(
        isinstance(part, ReasoningPart) and part.origin != ANTHROPIC
        for message in messages
        for part in message.parts
    )


def _decode_params(body: bytes, ctx: RequestContext) -> tuple[MessageCreateParams, list[str]]:
    """The body, and the names of its top-level fields this gateway does not know (the
    fast path relays them; a translation has nowhere to put them). Content blocks of
    types it does not know are left to the fast path too (unknown_blocks.py)."""
    try:
        return _WITH_TOOLS.decode_known(body)
    except msgspec.ValidationError as exc:
        known = without_unknown_blocks(body, exc)
        if known is None:
            raise _field_error(exc) from exc
        try:
            decoded = _WITH_TOOLS.decode_known(known[0])
        except msgspec.ValidationError as again:
            raise _field_error(again) from again
        refuse_translated(known[1], ctx)
        return decoded
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc


def _warn_uncarried(params: MessageCreateParams, upstream: str, ctx: RequestContext) -> None:
    """What the translation leaves out: warned only if the request is translated."""
    for name in _UNCARRIED:
        value = getattr(params, name)
        if value is not None and (name != "service_tier" or _service_tier(value) is None):
            ctx.warn_translated(f"{name} is not carried to the {upstream} upstream; ignored")


def _service_tier(value: Any) -> str | None:
    return _SERVICE_TIERS.get(value) if isinstance(value, str) else None


def _warn_prefill(messages: tuple[Message, ...], upstream: str | None, ctx: RequestContext) -> None:
    """A last assistant message is a prefill Anthropic continues; OpenAI's APIs take it as
    a finished turn and answer after it."""
    if upstream in _NO_PREFILL and messages and messages[-1].role is Role.ASSISTANT:
        ctx.warn(
            f"the {upstream} upstream does not continue an assistant prefill; "
            "the last assistant message was sent as a finished turn"
        )


def _warn_unknown(unknown: list[str], ctx: RequestContext) -> None:
    for name in unknown:
        ctx.warn_translated(f"{name} is not a Messages field this gateway knows; ignored")


def _anthropic_extensions(params: MessageCreateParams) -> dict[str, Any]:
    """What an Anthropic upstream takes that the IR has no room for, kept for it when the
    request leaves the fast path (a document the gateway converts): the Anthropic-only
    top-level fields, and the client's own tool list when it holds server tools (bash,
    text_editor, ...), cache_control or other tool options, which the IR's function tools
    cannot say."""
    out = {
        f"{ANTHROPIC}.{name}": value
        for name in _UNCARRIED
        if (value := getattr(params, name)) is not None
    }
    if any(_needs_raw_tool(tool) for tool in params.tools or ()):
        out[f"{ANTHROPIC}.tools"] = msgspec.to_builtins(params.tools)
    return out


def _needs_raw_tool(tool: ToolParam) -> bool:
    custom = tool.type in (None, "custom", WEB_SEARCH_TYPE)
    return not custom or tool.cache_control is not None or _has_options(tool)


def _has_options(tool: ToolParam) -> bool:
    """Options the IR's function tool has no room for."""
    return (
        tool.input_examples is not None
        or tool.defer_loading is not None
        or tool.eager_input_streaming is not None
        or tool.allowed_callers is not None
    )


def _warn_cache_loss(params: MessageCreateParams, ctx: RequestContext) -> None:
    """Cache markers the IR keeps only on text (with a 5m or 1h ttl): translated to
    Anthropic, a marker on other blocks or another ttl is lost, so it is said."""
    blocks: list[object] = list(params.system) if isinstance(params.system, list) else []
    for message in params.messages if isinstance(params.messages, list) else ():
        if isinstance(message.content, list):
            blocks.extend(message.content)
    for block in blocks:
        cache = getattr(block, "cache_control", None)
        if cache is None:
            continue
        if not isinstance(block, TextBlock):
            kind = type(block).__struct_config__.tag  # type: ignore[attr-defined]
            ctx.warn_translated(f"cache_control on a {kind} block is not carried; ignored")
        elif cache.ttl not in (None, "5m", "1h"):
            ctx.warn_translated(f"cache_control ttl {cache.ttl} is sent as the default 5m")


def _warn_betas(upstream: str, ctx: RequestContext) -> None:
    state = ctx.frontend_state
    if isinstance(state, HeaderState):
        warn_betas(state.betas, upstream, ctx)


def _system_to_ir(system: str | list[TextBlock] | None) -> list[TextPart]:
    if system is None:
        return []
    if isinstance(system, str):
        return [TextPart(text=system)] if system else []
    return [TextPart(text=b.text, cache_control=cache_ttl_to_ir(b.cache_control)) for b in system]


def messages_to_ir(
    params: MessageCreateParams, ctx: RequestContext
) -> tuple[tuple[TextPart, ...], tuple[Message, ...]]:
    system = _system_to_ir(params.system)
    if isinstance(params.messages, str):
        return tuple(system), (Message(role=Role.USER, parts=(TextPart(text=params.messages),)),)
    if not params.messages:
        raise InvalidRequestError("messages: at least one message is required", param="messages")
    out: list[Message] = []
    for i, message in enumerate(params.messages):
        if message.role == "system":
            parts = _system_message_to_ir(message, f"messages.{i}")
            if out:
                out.append(Message(role=Role.SYSTEM, parts=tuple(parts)))
            else:
                system.extend(parts)
        else:
            out.extend(_turn_to_ir(message, i, ctx))
            last = len(out) - 1
            if last != i and out[last].role is Role.USER and may_be_emptied(out[last].parts):
                ctx.name_message(last, f"messages[{i}]")  # errors name the client's message
    if not out:
        raise InvalidRequestError("messages: at least one user message is required")
    return tuple(system), tuple(out)


def _system_message_to_ir(message: MessageParam, path: str) -> list[TextPart]:
    if isinstance(message.content, str):
        return [TextPart(text=message.content)]
    parts: list[TextPart] = []
    for j, block in enumerate(message.content):
        if not isinstance(block, TextBlock):
            raise InvalidRequestError(
                f"{path}.content.{j}.type: a system message may hold only text blocks",
                param=f"{path}.content.{j}.type",
            )
        parts.append(TextPart(text=block.text, cache_control=cache_ttl_to_ir(block.cache_control)))
    return parts


def _turn_to_ir(message: MessageParam, i: int, ctx: RequestContext) -> list[Message]:
    """`messages[i]`, a user or an assistant turn."""
    if isinstance(message.content, str):
        role = Role.USER if message.role == "user" else Role.ASSISTANT
        return [Message(role=role, parts=(TextPart(text=message.content),))]
    results: list[Part] = []
    rest: list[Part] = []
    for j, block in enumerate(message.content):
        part = block_to_ir(block, i, j, ctx)
        if type(part) is ToolResultPart:
            if message.role != "user":
                path = f"messages.{i}.content.{j}.type"
                raise InvalidRequestError(
                    f"{path}: tool_result is allowed only in user messages", param=path
                )
            results.append(part)
        else:
            rest.append(part)
    out: list[Message] = []
    if results:
        out.append(Message(role=Role.TOOL, parts=tuple(results)))
    if rest or not results:
        role = Role.USER if message.role == "user" else Role.ASSISTANT
        out.append(Message(role=role, parts=tuple(rest)))
    return out
