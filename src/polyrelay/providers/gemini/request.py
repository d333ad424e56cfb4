"""ir.ChatRequest → a Gemini generateContent / streamGenerateContent / countTokens request.

Parameters Gemini lacks are rejected (web search, more than 5 stop sequences) or dropped
with a warning (parallel_tool_calls=false, user, metadata, strict tool schemas).
Reasoning follows translation.md §6: 2.5-series models take `thinkingBudget`, Gemini 3
takes `thinkingLevel`; effort ↔ budget is the gateway's published table.
"""

from __future__ import annotations

from typing import assert_never

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.ir import (
    ChatRequest,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    ToolChoice,
    ToolChoiceMode,
)
from polyrelay.ir.request import SUMMARY_OMITTED
from polyrelay.providers import Route, UpstreamRequest, upstream_headers
from polyrelay.providers.gemini.content import (
    contents_from_ir,
    sign_unsigned_calls,
    system_from_ir,
)
from polyrelay.providers.gemini.schema import schema_for_gemini
from polyrelay.schemas.gemini import (
    CountTokensRequest,
    FunctionCallingConfig,
    FunctionDeclaration,
    GenerateContentRequest,
    GenerationConfig,
    ThinkingConfig,
    Tool,
    ToolConfig,
)

__all__ = [
    "MAX_STOP_SEQUENCES",
    "build_request",
    "count_tokens_request",
    "generate_content_request",
    "thinking_config_from_ir",
]

MAX_STOP_SEQUENCES = 5

_BUDGET_BY_EFFORT = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_LEVEL_BY_EFFORT = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
# The thinkingBudget range per 2.5 model family (ai.google.dev/gemini-api/docs/thinking).
# Gemini answers 400 outside it ("The thinking budget (31999) is invalid."), and 2.5 Pro
# cannot think less than 128 ("Budget 0 is invalid. This model only works in thinking mode.").
_MAX_BUDGET_PRO = 32768
_MAX_BUDGET = 24576
_MIN_BUDGET_PRO = 128
_MIN_BUDGET_FLASH_LITE = 512
_DYNAMIC_BUDGET = -1


def build_request(request: ChatRequest, route: Route, ctx: RequestContext) -> UpstreamRequest:
    body = generate_content_request(request, route, ctx)
    method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
    return _upstream(route, method, codec.encode(body))


def count_tokens_request(
    request: ChatRequest, route: Route, ctx: RequestContext | None = None
) -> UpstreamRequest:
    """POST :countTokens. The Developer API counts systemInstruction and tools only inside
    a `generateContentRequest` wrapper (google-genai rejects them on bare `contents`)."""
    ctx = ctx if ctx is not None else RequestContext(request.model)
    inner = GenerateContentRequest(
        model=f"models/{route.upstream_model}",
        contents=contents_from_ir(request.messages, ctx),
        system_instruction=system_from_ir(request.system),
        tools=_tools_from_ir(request, ctx),
    )
    return _upstream(
        route, "countTokens", codec.encode(CountTokensRequest(generate_content_request=inner))
    )


def generate_content_request(
    request: ChatRequest, route: Route, ctx: RequestContext
) -> GenerateContentRequest:
    _warn_dropped(request, ctx)
    tools = _tools_from_ir(request, ctx)
    contents = contents_from_ir(request.messages, ctx)
    if _is_gemini_3(route.upstream_model):
        sign_unsigned_calls(contents, ctx)
    return GenerateContentRequest(
        contents=contents,
        system_instruction=system_from_ir(request.system),
        tools=tools,
        tool_config=_tool_config_from_ir(request.tool_choice) if tools else None,
        generation_config=_generation_config_from_ir(request, route, ctx),
    )


def _upstream(route: Route, method: str, body: bytes) -> UpstreamRequest:
    base = route.provider.base_url.rstrip("/")
    headers = upstream_headers(route.provider, {"content-type": "application/json"})
    url = f"{base}/v1beta/models/{route.upstream_model}:{method}"
    return UpstreamRequest(method="POST", url=url, headers=headers, body=body)


def _warn_dropped(request: ChatRequest, ctx: RequestContext) -> None:
    if request.web_search is not None:
        raise UnsupportedError("web search is not supported on gemini upstreams", param="tools")
    if request.parallel_tool_calls is False:
        ctx.warn("gemini cannot disable parallel tool calls; parallel_tool_calls=false ignored")
    if request.user is not None:
        ctx.warn("gemini has no end-user field; user dropped")
    if request.metadata:
        ctx.warn("gemini has no request metadata; metadata dropped")
    if request.service_tier not in (None, "auto", "default"):
        ctx.warn(f"gemini has no service_tier {request.service_tier}; dropped")
    if request.verbosity is not None:
        ctx.warn("gemini has no verbosity setting; verbosity dropped")


def _tools_from_ir(request: ChatRequest, ctx: RequestContext) -> list[Tool] | None:
    if not request.tools:
        return None
    if any(t.strict for t in request.tools):
        ctx.warn("gemini does not enforce strict tool schemas; strict dropped")
    declarations = [
        FunctionDeclaration(
            name=t.name,
            description=t.description,
            parameters_json_schema=schema_for_gemini(t.parameters, ctx, f"tool {t.name}"),
        )
        for t in request.tools
    ]
    return [Tool(function_declarations=declarations)]


def _tool_config_from_ir(choice: ToolChoice | None) -> ToolConfig | None:
    if choice is None:
        return None
    match choice.mode:
        case ToolChoiceMode.AUTO:
            config = FunctionCallingConfig(mode="AUTO")
        case ToolChoiceMode.NONE:
            config = FunctionCallingConfig(mode="NONE")
        case ToolChoiceMode.REQUIRED:
            config = FunctionCallingConfig(mode="ANY")
        case ToolChoiceMode.NAMED:
            names = [choice.name] if choice.name else None
            config = FunctionCallingConfig(mode="ANY", allowed_function_names=names)
        case _:
            assert_never(choice.mode)
    return ToolConfig(function_calling_config=config)


def _generation_config_from_ir(
    request: ChatRequest, route: Route, ctx: RequestContext
) -> GenerationConfig | None:
    if len(request.stop) > MAX_STOP_SEQUENCES:
        raise UnsupportedError(
            f"gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences, got {len(request.stop)}",
            param="stop",
        )
    mime, schema = _output_format_from_ir(request.output_format)
    schema = schema_for_gemini(schema, ctx, "the response format")
    config = GenerationConfig(
        max_output_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        top_k=request.top_k,
        stop_sequences=list(request.stop) or None,
        presence_penalty=_penalty(request.presence_penalty, "presence_penalty", route, ctx),
        frequency_penalty=_penalty(request.frequency_penalty, "frequency_penalty", route, ctx),
        seed=request.seed,
        response_mime_type=mime,
        response_json_schema=schema,
        thinking_config=thinking_config_from_ir(request.reasoning, route.upstream_model, ctx),
        response_logprobs=True if request.logprobs is not None else None,
        logprobs=request.logprobs or None,  # no alternatives asked for: left out
    )
    return None if config == _EMPTY_CONFIG else config


_EMPTY_CONFIG = GenerationConfig()
_PENALTY_MODELS = ("gemini-1.", "gemini-2.0")
"""Gemini 2.5 and later answer a non-zero penalty with 400 "Penalty is not enabled for
models/gemini-2.5-flash"; only these families take one."""


def _penalty(value: float | None, name: str, route: Route, ctx: RequestContext) -> float | None:
    if value is None or route.upstream_model.startswith(_PENALTY_MODELS):
        return value
    if value:
        ctx.warn(f"{route.upstream_model} does not support {name}; dropped")
    return None


def _output_format_from_ir(
    output_format: OutputFormat | None,
) -> tuple[str | None, codec.JSONObject | None]:
    if output_format is None:
        return None, None
    match output_format.kind:
        case OutputFormatKind.TEXT:
            return None, None
        case OutputFormatKind.JSON_OBJECT:
            return "application/json", None
        case OutputFormatKind.JSON_SCHEMA:
            return "application/json", output_format.described_schema()
        case _:
            assert_never(output_format.kind)


def thinking_config_from_ir(
    reasoning: ReasoningConfig | None, model: str, ctx: RequestContext
) -> ThinkingConfig | None:
    if reasoning is None:
        return None
    level_style = _is_gemini_3(model)
    if not reasoning.enabled:
        if level_style:
            lowest = _level_the_model_has("MINIMAL", model)
            ctx.warn(f"gemini 3 models cannot turn thinking off; sent thinkingLevel {lowest}")
            return ThinkingConfig(thinking_level=lowest)
        if _is_pro(model):
            ctx.warn(
                f"{model} cannot turn thinking off; sent its smallest thinkingBudget, "
                f"{_MIN_BUDGET_PRO}"
            )
            return ThinkingConfig(thinking_budget=_MIN_BUDGET_PRO)
        return ThinkingConfig(thinking_budget=0)
    # Thoughts are asked for unless the client wants none (its thought signatures come
    # either way).
    thoughts = reasoning.summary != SUMMARY_OMITTED
    if level_style:
        level = _offered_level(_level(reasoning), model, ctx)
        return ThinkingConfig(include_thoughts=thoughts, thinking_level=level)
    budget = _budget(reasoning, model, ctx)
    return ThinkingConfig(include_thoughts=thoughts, thinking_budget=budget)


def _is_gemini_3(model: str) -> bool:
    return model.startswith("gemini-3")


def _is_pro(model: str) -> bool:
    return "-pro" in model


def _budget(reasoning: ReasoningConfig, model: str, ctx: RequestContext) -> int:
    low, high = _budget_range(model)
    if reasoning.budget_tokens is not None:
        budget = min(max(reasoning.budget_tokens, low), high)
        if budget != reasoning.budget_tokens:
            ctx.warn(
                f"{model} takes a thinkingBudget from {low} to {high}; "
                f"budget_tokens {reasoning.budget_tokens} was sent as {budget}"
            )
        return budget
    if reasoning.effort is None or reasoning.adaptive:
        return _DYNAMIC_BUDGET
    return _BUDGET_BY_EFFORT.get(reasoning.effort, high)


def _budget_range(model: str) -> tuple[int, int]:
    if _is_pro(model):
        return _MIN_BUDGET_PRO, _MAX_BUDGET_PRO
    return (_MIN_BUDGET_FLASH_LITE if "flash-lite" in model else 1), _MAX_BUDGET


def _level(reasoning: ReasoningConfig) -> str | None:
    """None leaves the model's default (dynamic, high) in place."""
    if reasoning.effort is not None:
        return _LEVEL_BY_EFFORT.get(reasoning.effort, "HIGH")
    budget = reasoning.budget_tokens
    if budget is None or reasoning.adaptive:
        return None
    if budget <= _BUDGET_BY_EFFORT["low"]:
        return "LOW"
    return "MEDIUM" if budget <= _BUDGET_BY_EFFORT["medium"] else "HIGH"


def _offered_level(level: str | None, model: str, ctx: RequestContext) -> str | None:
    if level is None:
        return None
    sent = _level_the_model_has(level, model)
    if sent != level:
        ctx.warn(f"{model} has no thinkingLevel {level}; sent {sent}")
    return sent


def _level_the_model_has(level: str, model: str) -> str:
    """`level`, or the nearest one above that the model has: Gemini 3 Pro models have no
    MINIMAL and 3.0 Pro no MEDIUM either (400 "Thinking level MEDIUM is not supported for
    this model"); 3 Flash has all four."""
    if level == "MINIMAL" and _is_pro(model):
        return "LOW"
    if level == "MEDIUM" and model.startswith("gemini-3-pro"):
        return "HIGH"
    return level
