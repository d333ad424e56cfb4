"""IR ChatRequest → Anthropic `POST /v1/messages` (plus passthrough and count_tokens).

Parameter policy (translation.md §4, §6, §10): sampling and stop sequences as sampling.py says;
penalties, seed and token logprobs are dropped with a warning; an effort becomes a thinking budget
(the gateway's published table) and `max_tokens` is raised to budget + requested
output when needed, within the model's limit (thinking_fit.py); thinking is turned off
when a tool is forced, since the API rejects the pair and downgrading the choice would
break structured-output callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from polyrelay.codec import JSONObject, decode, encode
from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatRequest,
    FunctionTool,
    Message,
    OutputFormatKind,
    ReasoningConfig,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoiceMode,
    ToolResultPart,
    WebSearchTool,
)
from polyrelay.ir.request import SUMMARY_OMITTED
from polyrelay.providers import Route, UpstreamRequest, upstream_headers
from polyrelay.providers.anthropic.cache_markers import automatic_cache, cap_cache_markers
from polyrelay.providers.anthropic.content import ORIGIN, messages_from_ir, text_block_from_ir
from polyrelay.providers.anthropic.declarations import EMPTY_SCHEMA, declared
from polyrelay.providers.anthropic.sampling import sampling_from_ir, stop_sequences_from_ir
from polyrelay.providers.anthropic.schema import structured_schema
from polyrelay.providers.anthropic.thinking_fit import budget_beside_answer
from polyrelay.schemas.anthropic_messages import (
    MessageCreateParams,
    MessageParam,
    Metadata,
    OutputConfig,
    OutputFormatParam,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ThinkingConfigParam,
    ToolChoiceParam,
    ToolParam,
    UserLocationParam,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_TOKENS",
    "EFFORT_BUDGETS",
    "build_request",
    "count_tokens_request",
    "headers_for",
    "passthrough_request",
]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
"""translation.md §6: the gateway's published effort → thinking budget policy."""
_MAX_EFFORT_BUDGET = 32000
_SERVICE_TIERS = {"auto": "auto", "priority": "auto", "scale": "auto", "default": "standard_only"}
_JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."


def headers_for(route: Route, version: str = API_VERSION) -> dict[str, str]:
    return upstream_headers(
        route.provider, {"content-type": "application/json", "anthropic-version": version}
    )


def _url(route: Route, path: str) -> str:
    return route.provider.base_url.rstrip("/") + path


def build_request(request: ChatRequest, route: Route, ctx: RequestContext) -> UpstreamRequest:
    params = params_from_ir(request, route, ctx)
    fields = _own_fields(request)
    body = encode(params) if not fields else encode({**decode(encode(params)), **fields})
    return UpstreamRequest(
        method="POST", url=_url(route, "/v1/messages"), headers=headers_for(route), body=body
    )


def _own_fields(request: ChatRequest) -> JSONObject:
    """The Anthropic-only fields an Anthropic client sent (service_tier, its own tool
    list with server tools, ...), which the frontend kept in `extensions` for a request
    that left the fast path; they go at the top level as the client wrote them."""
    prefix = ORIGIN + "."
    return {
        key.removeprefix(prefix): value
        for key, value in request.extensions.items()
        if key.startswith(prefix)
    }


def params_from_ir(request: ChatRequest, route: Route, ctx: RequestContext) -> MessageCreateParams:
    _warn_dropped(request, ctx)
    max_tokens = request.max_tokens or route.model.max_output_tokens or DEFAULT_MAX_TOKENS
    # The answer's room beside an effort's thinking: what the client asked for, else the
    # default (the model's whole max_output_tokens would leave xhigh nothing to think in).
    messages = messages_from_ir(request.messages, ctx)
    thinking, effort = _thinking_from_ir(
        request, route, request.max_tokens or DEFAULT_MAX_TOKENS, ctx, messages
    )
    if thinking is not None and thinking.type != "disabled" and request.reasoning is not None:
        thinking.display = _display_from_ir(request.reasoning.summary)
    if thinking is not None and thinking.budget_tokens is not None:
        if thinking.budget_tokens >= max_tokens:
            thinking, max_tokens = budget_beside_answer(
                thinking.budget_tokens, max_tokens, route, ctx
            )
    tools = _tools_from_ir(request.tools, request.web_search, ctx)
    thinks = thinking is not None and thinking.type != "disabled"
    sampling = sampling_from_ir(request, route.upstream_model, thinks=thinks, ctx=ctx)
    system = _system_from_ir(request, ctx)
    cap_cache_markers(system, messages, ctx)
    cache = automatic_cache(request, route, system, messages, lambda: _own_fields(request))
    return MessageCreateParams(
        model=route.upstream_model,
        messages=messages,
        max_tokens=max_tokens,
        system=system,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        stop_sequences=stop_sequences_from_ir(request.stop, ctx),
        stream=request.stream or None,
        tools=tools or None,
        tool_choice=_tool_choice_from_ir(request) if tools else None,
        metadata=Metadata(user_id=request.user) if request.user is not None else None,
        thinking=thinking,
        output_config=_output_config_from_ir(request, effort, ctx),
        service_tier=_service_tier_from_ir(request.service_tier, ctx),
        cache_control=cache,
    )


def _display_from_ir(summary: str | None) -> str | None:
    """Readable reasoning asked for (a Responses client's reasoning.summary), which newer
    models leave out unless told: their default display is `omitted`."""
    if summary is None:
        return None
    return "omitted" if summary == SUMMARY_OMITTED else "summarized"


def _service_tier_from_ir(tier: str | None, ctx: RequestContext) -> str | None:
    """OpenAI's tiers in Anthropic's two: `auto` takes priority capacity where the
    organisation has it, as OpenAI's `priority` and `scale` ask; `default` is standard."""
    if tier is None:
        return None
    if tier in _SERVICE_TIERS:
        return _SERVICE_TIERS[tier]
    ctx.warn(f"Anthropic has no service_tier {tier}; dropped")
    return None


def _warn_dropped(request: ChatRequest, ctx: RequestContext) -> None:
    if request.presence_penalty is not None or request.frequency_penalty is not None:
        ctx.warn("presence_penalty/frequency_penalty are not supported by Anthropic; dropped")
    if request.seed is not None:
        ctx.warn("seed is not supported by Anthropic; dropped")
    if request.metadata:
        ctx.warn("metadata other than the user id is not supported by Anthropic; dropped")
    if request.verbosity is not None:
        ctx.warn("verbosity is not supported by Anthropic; dropped")
    if request.logprobs is not None:
        ctx.warn("Anthropic does not return token logprobs; logprobs dropped")


def _system_from_ir(request: ChatRequest, ctx: RequestContext) -> str | list[TextBlock] | None:
    parts = [p for p in request.system if p.text.strip()]  # Anthropic refuses blank blocks
    output_format = request.output_format
    if output_format is not None and output_format.kind is OutputFormatKind.JSON_OBJECT:
        ctx.warn("json_object output is requested from Anthropic by a system instruction")
        parts.append(TextPart(text=_JSON_OBJECT_INSTRUCTION))
    if not parts:
        return None
    if len(parts) == 1 and not parts[0].cache_control:
        return parts[0].text
    return [text_block_from_ir(p, ctx) for p in parts]


def _forces_tool(request: ChatRequest) -> bool:
    choice = request.tool_choice
    return choice is not None and choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.NAMED)


def _thinking_from_ir(
    request: ChatRequest,
    route: Route,
    output: int,
    ctx: RequestContext,
    messages: Sequence[MessageParam],
) -> tuple[ThinkingConfigParam | None, str | None]:
    """The thinking config and the `output_config.effort` to send; `output` is the
    requested answer length, which an effort's budget comes on top of; `messages` are
    the ones to send."""
    reasoning = request.reasoning
    if reasoning is None:
        return None, None
    if not reasoning.enabled:
        return ThinkingConfigParam(type="disabled"), None
    if _forces_tool(request):
        ctx.warn("thinking was turned off because a tool is forced (Anthropic rejects both)")
        return None, None
    if _thinking_lost(request.messages, messages, ctx):
        return None, None
    if reasoning.budget_tokens is not None:
        return ThinkingConfigParam(type="enabled", budget_tokens=reasoning.budget_tokens), None
    if reasoning.adaptive:
        return ThinkingConfigParam(type="adaptive"), reasoning.effort
    return _budget_for_effort(reasoning, route, output), None


def _thinking_lost(
    messages: Sequence[Message], sent: Sequence[MessageParam], ctx: RequestContext
) -> bool:
    """Whether the turn must go without thinking, for a final assistant message (a tool
    loop's, a prefill) lacks the thinking Anthropic then requires before it."""
    if _tool_loop_lost_thinking(messages):
        ctx.warn(
            "thinking was turned off for this turn: the assistant's tool calls came back"
            " without the thinking before them (the client's protocol has no place for it),"
            " and Anthropic requires it in a tool loop while thinking is on"
        )
        return True
    if _prefill_without_thinking(sent):
        ctx.warn(
            "thinking was turned off for this turn: it ends with assistant text to continue"
            " (a prefill), which Anthropic takes with thinking on only after its thinking"
        )
        return True
    return False


def _prefill_without_thinking(sent: Sequence[MessageParam]) -> bool:
    last = sent[-1] if sent else None
    if last is None or last.role != "assistant" or not isinstance(last.content, list):
        return False
    first = last.content[0] if last.content else None
    return first is not None and not isinstance(first, ThinkingBlock | RedactedThinkingBlock)


def _tool_loop_lost_thinking(messages: Sequence[Message]) -> bool:
    """Whether the conversation ends in a tool loop (tool results answering the assistant's
    calls) whose assistant turns hold no thinking of Anthropic's. With thinking on, the API
    refuses that (the last assistant message before the results must start with its
    thinking block); a Chat client never has it to send back, so thinking goes off instead."""
    at = len(messages)
    if not at or not _only_tool_results(messages[-1]):
        return False  # the conversation ends with the user's own words: no loop
    calls = False
    # Back through the loop's results and assistant turns to the user's own words.
    while at and (messages[at - 1].role is Role.ASSISTANT or _only_tool_results(messages[at - 1])):
        for part in messages[at - 1].parts:
            if isinstance(part, ReasoningPart) and part.origin == ORIGIN and part.signature:
                return False
            calls = calls or isinstance(part, ToolCallPart)
        at -= 1
    return calls


def _only_tool_results(message: Message) -> bool:
    if message.role is Role.TOOL:
        return True
    return (
        message.role is Role.USER
        and bool(message.parts)
        and all(isinstance(part, ToolResultPart) for part in message.parts)
    )


def _budget_for_effort(
    reasoning: ReasoningConfig, route: Route, output: int
) -> ThinkingConfigParam:
    effort = reasoning.effort or "medium"
    budget = EFFORT_BUDGETS.get(effort)
    if budget is None:
        budget = _most_budget(route, output)
    return ThinkingConfigParam(type="enabled", budget_tokens=budget)


def _most_budget(route: Route, output: int) -> int:
    """xhigh/max (translation.md §6: "model max"): what the model's max_output_tokens
    leaves beside the requested output, so max_tokens (budget + output) reaches that
    limit and not past it; never less than `high`'s budget (a larger effort never thinks
    less, and stays above Anthropic's 1024 minimum even for a small configured limit).
    A model with no configured limit gets 32000."""
    limit = route.model.max_output_tokens
    if limit is None:
        return _MAX_EFFORT_BUDGET
    return max(EFFORT_BUDGETS["high"], limit - output)


def _output_config_from_ir(
    request: ChatRequest, effort: str | None, ctx: RequestContext
) -> OutputConfig | None:
    output_format = request.output_format
    fmt = None
    if output_format is not None and output_format.kind is OutputFormatKind.JSON_SCHEMA:
        schema = structured_schema(
            output_format.described_schema() or EMPTY_SCHEMA, ctx, "response_format"
        )
        fmt = OutputFormatParam(type="json_schema", schema=schema)
    if fmt is None and effort is None:
        return None
    return OutputConfig(effort=effort, format=fmt)


def _tools_from_ir(
    tools: tuple[FunctionTool, ...], web_search: WebSearchTool | None, ctx: RequestContext
) -> list[ToolParam]:
    out: list[ToolParam] = [declared(t, ctx) for t in tools]
    if web_search is not None:
        out.append(_web_search_from_ir(web_search))
    return out


def _web_search_from_ir(tool: WebSearchTool) -> ToolParam:
    location = tool.user_location
    return ToolParam(
        type="web_search_20250305",
        name=tool.name,
        max_uses=tool.max_uses,
        allowed_domains=list(tool.allowed_domains) or None,
        blocked_domains=list(tool.blocked_domains) or None,
        user_location=UserLocationParam(
            type="approximate",
            city=location.city,
            region=location.region,
            country=location.country,
            timezone=location.timezone,
        )
        if location is not None
        else None,
    )


def _tool_choice_from_ir(request: ChatRequest) -> ToolChoiceParam | None:
    disable = True if request.parallel_tool_calls is False else None
    choice = request.tool_choice
    if choice is None:
        return ToolChoiceParam(type="auto", disable_parallel_tool_use=True) if disable else None
    match choice.mode:
        case ToolChoiceMode.AUTO:
            return ToolChoiceParam(type="auto", disable_parallel_tool_use=disable)
        case ToolChoiceMode.NONE:
            return ToolChoiceParam(type="none")
        case ToolChoiceMode.REQUIRED:
            return ToolChoiceParam(type="any", disable_parallel_tool_use=disable)
        case ToolChoiceMode.NAMED:
            return ToolChoiceParam(type="tool", name=choice.name, disable_parallel_tool_use=disable)
        case _:
            assert_never(choice.mode)


def passthrough_request(
    body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
) -> UpstreamRequest:
    """The fast path: the client's body with `model` replaced (the Messages frontend
    has left out the thinking another provider issued: frontends/anthropic_messages)."""
    del stream  # the client's body already says whether it streams
    body["model"] = route.upstream_model
    out = headers_for(route, headers.get("anthropic-version", API_VERSION))
    beta = headers.get("anthropic-beta")
    if beta is not None and "anthropic-beta" not in route.provider.headers:
        out["anthropic-beta"] = beta
    return UpstreamRequest(
        method="POST", url=_url(route, "/v1/messages"), headers=out, body=encode(body)
    )


def count_tokens_request(
    request_body: JSONObject, route: Route, headers: dict[str, str] | None = None
) -> UpstreamRequest:
    body = dict(request_body)
    body["model"] = route.upstream_model
    client = headers or {}
    out = headers_for(route, client.get("anthropic-version", API_VERSION))
    if "anthropic-beta" in client:
        out["anthropic-beta"] = client["anthropic-beta"]
    return UpstreamRequest(
        method="POST", url=_url(route, "/v1/messages/count_tokens"), headers=out, body=encode(body)
    )
