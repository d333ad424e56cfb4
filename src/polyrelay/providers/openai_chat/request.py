"""IR `ChatRequest` → Chat Completions request body (and the passthrough body).

Mapping notes:
- The token cap goes out as `max_completion_tokens` to api.openai.com, and to an OpenAI
  reasoning model (o1, o3, o4-mini, gpt-5...) wherever it is served (Azure OpenAI, whose
  deployments are commonly named after the model, a proxy in front of OpenAI): those
  models reject `max_tokens`. It goes as `max_tokens` everywhere else: OpenAI-compatible
  servers (vLLM, Ollama, llama.cpp, older proxies) often know only the older name.
- `reasoning` with a token budget maps to the nearest effort on the translation.md §6
  scale (minimal 1024, low 2048, medium 8192, high 24576), split at geometric midpoints;
  `minimal` is `low` for a model that lacks it (all but the first gpt-5 ones).
- `parallel_tool_calls` is sent only with tools: OpenAI rejects it otherwise.
- A strict tool whose schema OpenAI's strict mode refuses goes without `strict`, warned.
- `metadata` is not sent: OpenAI takes it only with `store: true`, which is never sent.
- Token logprobs asked for are `logprobs: true` (+ `top_logprobs` when alternatives are),
  which OpenAI-compatible servers (vLLM, llama.cpp) take too.
- `temperature` and `top_p` are not sent to a model that reasons on the request (the
  o-series, the first gpt-5 ones, gpt-5.1 on with an effort): OpenAI refuses them, warned.
"""

from __future__ import annotations

import re
from typing import assert_never, get_args

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.ir import (
    ChatRequest,
    FunctionTool,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    ToolChoice,
    ToolChoiceMode,
    WebSearchTool,
)
from polyrelay.ir.request import (
    OPENAI_PROMPT_CACHE_KEY,
    OPENAI_PROMPT_CACHE_OPTIONS,
    OPENAI_PROMPT_CACHE_RETENTION,
    OPENAI_SAFETY_IDENTIFIER,
    OPENAI_USER,
    SUMMARY_OMITTED,
)
from polyrelay.providers import Route, UpstreamRequest, upstream_headers
from polyrelay.providers.openai_chat.content import messages_from_ir
from polyrelay.providers.openai_models import (
    MINIMAL_MODEL,
    NON_REASONING_MODEL,
    sampler,
    verbosity,
)
from polyrelay.providers.schema_memo import Declarations
from polyrelay.providers.strict_mode import strict_or_warn
from polyrelay.schemas.openai_chat import (
    ChatCompletionCreateParams,
    ChatCompletionFunctionToolParam,
    ChatCompletionNamedToolChoiceParam,
    FunctionDefinition,
    FunctionName,
    JSONSchema,
    ReasoningEffort,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    ResponseFormatText,
    StreamOptions,
    ToolChoiceParam,
    WebSearchOptions,
    WebSearchOptionsUserLocation,
    WebSearchOptionsUserLocationApproximate,
)

__all__ = ["build_request", "passthrough_request", "reasoning_effort_from_ir"]

PATH = "/chat/completions"
_USAGE = StreamOptions(include_usage=True)
MAX_STOP_SEQUENCES = 4
_EFFORT_BY_BUDGET: tuple[tuple[int, ReasoningEffort], ...] = (
    (1448, "minimal"),
    (4096, "low"),
    (14189, "medium"),
)
_EFFORTS: dict[str, ReasoningEffort] = {e: e for e in get_args(ReasoningEffort)}
_COMPLETION_CAP_MODEL = re.compile(r"(?:o\d|gpt-5)(?:[-.].*)?")
"""The models sent `max_completion_tokens` wherever they are served: OpenAI's reasoning
models, o1 to gpt-5.1-codex, and the gpt-5 chat ones with them."""


def _url_and_headers(route: Route) -> tuple[str, dict[str, str]]:
    provider = route.provider
    headers = upstream_headers(provider, {"content-type": "application/json"})
    return provider.base_url.rstrip("/") + PATH, headers


def build_request(request: ChatRequest, route: Route, ctx: RequestContext) -> UpstreamRequest:
    body = _params_from_ir(request, route, ctx)
    url, headers = _url_and_headers(route)
    return UpstreamRequest(method="POST", url=url, headers=headers, body=codec.encode(body))


def _params_from_ir(
    request: ChatRequest, route: Route, ctx: RequestContext
) -> ChatCompletionCreateParams:
    if request.top_k is not None:
        ctx.warn("top_k is not supported by this upstream and was ignored")
    if request.metadata:
        # OpenAI answers 400 "The 'metadata' parameter is only allowed when 'store' is
        # enabled": metadata tags stored completions, and a translated request asks OpenAI
        # to store nothing (the gateway keeps a Responses client's responses itself).
        ctx.warn("metadata is not supported by this upstream and was ignored")
    tools: list[ChatCompletionFunctionToolParam] = [_DECLARED(t, ctx) for t in request.tools]
    native_cap = _takes_completion_cap(route)
    model = route.upstream_model
    effort = reasoning_effort_from_ir(request.reasoning, model, ctx)
    params = ChatCompletionCreateParams(
        model=route.upstream_model,
        messages=messages_from_ir(request, ctx),
        max_completion_tokens=request.max_tokens if native_cap else None,
        max_tokens=None if native_cap else request.max_tokens,
        temperature=sampler("temperature", request.temperature, model, effort, ctx),
        top_p=sampler("top_p", request.top_p, model, effort, ctx),
        n=request.n if request.n != 1 else None,
        stop=_stop_from_ir(request.stop),
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        seed=request.seed,
        response_format=_response_format_from_ir(request.output_format),
        tools=list(tools) or None,
        tool_choice=_tool_choice_from_ir(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls if tools else None,
        stream=True if request.stream else None,
        stream_options=_USAGE if request.stream else None,
        user=request.user,
        reasoning_effort=effort,
        web_search_options=_web_search_from_ir(request.web_search, ctx),
        service_tier=request.service_tier,
        verbosity=verbosity(request.verbosity, model, ctx),
    )
    if request.logprobs is not None:
        params.logprobs = True
        params.top_logprobs = request.logprobs or None  # none asked for: left out
    own = request.extensions
    if own:  # most translated requests have none: nothing to look up
        # What an OpenAI client sent beside the IR (ir/request.py); Chat Completions has
        # no client_metadata, which only tags the request, so that one stays out.
        params.prompt_cache_key = own.get(OPENAI_PROMPT_CACHE_KEY)
        params.prompt_cache_retention = own.get(OPENAI_PROMPT_CACHE_RETENTION)
        params.prompt_cache_options = own.get(OPENAI_PROMPT_CACHE_OPTIONS)
        params.safety_identifier = own.get(OPENAI_SAFETY_IDENTIFIER)
        params.user = own.get(OPENAI_USER, request.user)
    return params


def _declared(tool: FunctionTool, ctx: RequestContext) -> ChatCompletionFunctionToolParam:
    return ChatCompletionFunctionToolParam(
        function=FunctionDefinition(
            name=tool.name,
            description=tool.description,
            parameters=tool.parameters,
            strict=_strict_from_ir(tool.name, tool.strict, tool.parameters, ctx),
        )
    )


_DECLARED = Declarations(_declared)
"""A client's tools are the same schemas every turn (codec.CachedMember): encoded once."""


def _strict_from_ir(
    name: str, strict: bool | None, schema: JSONObject | None, ctx: RequestContext
) -> bool | None:
    """A strict tool's `strict`, left out when OpenAI's strict mode would refuse its schema
    with 400 (an Anthropic strict tool may have optional properties, OpenAI's may not)."""
    if not strict:
        return strict
    return True if strict_or_warn(name, schema, ctx) else None


def _takes_completion_cap(route: Route) -> bool:
    """Whether the token cap goes out as `max_completion_tokens` (see the module doc)."""
    if "api.openai.com" in route.provider.base_url:
        return True
    return _COMPLETION_CAP_MODEL.fullmatch(route.upstream_model) is not None


def _stop_from_ir(stop: tuple[str, ...]) -> list[str] | None:
    """OpenAI answers 400 past 4 stop sequences; said here, in the client's terms, as the
    Gemini provider does for its 5 (translation.md §10: never truncated silently)."""
    if len(stop) > MAX_STOP_SEQUENCES:
        raise UnsupportedError(
            f"openai accepts at most {MAX_STOP_SEQUENCES} stop sequences, got {len(stop)}",
            param="stop",
        )
    return list(stop) or None


def _tool_choice_from_ir(choice: ToolChoice | None) -> ToolChoiceParam | None:
    if choice is None:
        return None
    match choice.mode:
        case ToolChoiceMode.AUTO:
            return "auto"
        case ToolChoiceMode.NONE:
            return "none"
        case ToolChoiceMode.REQUIRED:
            return "required"
        case ToolChoiceMode.NAMED:
            return ChatCompletionNamedToolChoiceParam(function=FunctionName(name=choice.name or ""))
        case _:
            assert_never(choice.mode)


def _response_format_from_ir(fmt: OutputFormat | None) -> ResponseFormat | None:
    if fmt is None:
        return None
    match fmt.kind:
        case OutputFormatKind.TEXT:
            return ResponseFormatText()
        case OutputFormatKind.JSON_OBJECT:
            return ResponseFormatJSONObject()
        case OutputFormatKind.JSON_SCHEMA:
            schema = JSONSchema(
                name=fmt.name or "response",
                description=fmt.description,
                schema=fmt.schema,
                strict=fmt.strict,
            )
            return ResponseFormatJSONSchema(json_schema=schema)
        case _:
            assert_never(fmt.kind)


def reasoning_effort_from_ir(
    config: ReasoningConfig | None, model: str, ctx: RequestContext
) -> ReasoningEffort | None:
    if config is None:
        return None
    if config.summary not in (None, SUMMARY_OMITTED):  # Chat has no reasoning summaries
        ctx.warn("reasoning summary is not supported by this upstream and was ignored")
    if not config.enabled:
        # `none` exists only on the newest models, and any effort makes older, non-reasoning
        # models answer 400; leaving it out is the portable way to ask for no reasoning.
        return None
    if NON_REASONING_MODEL.fullmatch(model):
        # They answer any effort with 400 ("Unsupported parameter: 'reasoning_effort' is
        # not supported with this model"), and Claude Code asks for thinking.
        ctx.warn(f"{model!r} does not reason; the reasoning asked for was dropped")
        return None
    if config.effort is not None:
        effort = _EFFORTS.get(config.effort)
        if effort is None:
            ctx.warn(f"reasoning effort {config.effort!r} is not known upstream and was ignored")
        return effort
    if config.budget_tokens is not None:
        return _effort_for_budget(config.budget_tokens, model)
    return None


def _effort_for_budget(budget: int, model: str) -> ReasoningEffort:
    for limit, effort in _EFFORT_BY_BUDGET:
        if budget < limit:
            # Only the first gpt-5 models take `minimal`: the o-series, gpt-5.1 on and
            # gpt-oss answer it with 400 ("Supported values are: 'low', 'medium', and 'high'").
            if effort == "minimal" and not MINIMAL_MODEL.fullmatch(model):
                return "low"
            return effort
    return "high"


def _web_search_from_ir(tool: WebSearchTool | None, ctx: RequestContext) -> WebSearchOptions | None:
    if tool is None:
        return None
    if tool.max_uses is not None or tool.allowed_domains or tool.blocked_domains:
        ctx.warn("web search max_uses and domain filters are not supported by this upstream")
    loc = tool.user_location
    if loc is None:
        return WebSearchOptions()
    approx = WebSearchOptionsUserLocationApproximate(
        city=loc.city, region=loc.region, country=loc.country, timezone=loc.timezone
    )
    return WebSearchOptions(user_location=WebSearchOptionsUserLocation(approximate=approx))


def passthrough_request(
    body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
) -> UpstreamRequest:
    """Same-protocol fast path: only `model` (and stream usage) change; unknown fields stay."""
    del headers  # Chat Completions has no protocol headers worth forwarding.
    body["model"] = route.upstream_model
    if stream:
        options = body.get("stream_options")
        merged = dict(options) if isinstance(options, dict) else {}
        merged["include_usage"] = True
        body["stream_options"] = merged
    url, out_headers = _url_and_headers(route)
    return UpstreamRequest(method="POST", url=url, headers=out_headers, body=codec.encode(body))
