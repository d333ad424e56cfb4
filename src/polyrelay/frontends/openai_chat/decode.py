"""Chat Completions request body → `ChatRequest`.

The body is decoded with msgspec into `ChatCompletionCreateParamsStrict` (types checked,
unknown top-level fields rejected). Only when that fails on an unknown field do we decode
again leniently and warn about each extra field, so well-formed requests pay one pass. The
tools are decoded once per distinct list (codec.CachedMember).
Value ranges are checked here so the messages read like OpenAI's own
(`Invalid 'temperature': 2.5 is greater than the maximum of 2.`).
"""

from __future__ import annotations

from typing import Any, assert_never

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_chat.content import messages_to_ir
from polyrelay.frontends.openai_chat.legacy import (
    LEGACY_FUNCTIONS,
    functions_to_ir,
    legacy_choice,
    merged_tools,
)
from polyrelay.frontends.openai_prompt_cache import prompt_cache_to_ir
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
)
from polyrelay.schemas.openai_chat import (
    ChatCompletionCreateParams,
    ChatCompletionCreateParamsStrict,
    ChatCompletionCustomToolChoiceParam,
    ChatCompletionCustomToolParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionNamedToolChoiceParam,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    ResponseFormatText,
    ToolChoiceAllowedTools,
    ToolChoiceParam,
    WebSearchOptions,
)
from polyrelay.search.options import validate_user_location

__all__ = ["decode_request"]

_IGNORED_FIELDS = (
    "logit_bias",
    "modalities",
    "audio",
    "prediction",
    "store",
    "moderation",
)
_MODES = {
    "none": ToolChoiceMode.NONE,
    "auto": ToolChoiceMode.AUTO,
    "required": ToolChoiceMode.REQUIRED,
}
_MAX_STOP = 4
_MAX_METADATA = 16
_MAX_TOP_LOGPROBS = 20
_WITH_TOOLS = codec.CachedMember(
    ChatCompletionCreateParamsStrict,
    ChatCompletionCreateParams,
    "tools",
    list[ChatCompletionFunctionToolParam | ChatCompletionCustomToolParam] | None,
)
"""The body, its tool list (the same on every turn of a client) decoded once per list."""


def decode_request(body: bytes, ctx: RequestContext) -> ChatRequest:
    p = _decode_params(body, ctx)
    _check_ranges(p)
    system, messages = messages_to_ir(p.messages, ctx)
    tools = _tools_to_ir(p, ctx)
    choice = p.tool_choice
    if choice is None and p.function_call is not None:
        choice = legacy_choice(p.function_call, tools)
    tools, tool_choice = _tool_choice_to_ir(choice, tools, ctx)
    stream = bool(p.stream)
    if stream and p.stream_options is not None:
        ctx.include_usage = bool(p.stream_options.include_usage)
        if p.stream_options.include_obfuscation:
            # OpenAI pads its own chunks (`obfuscation`); the gateway's stream has none.
            ctx.warn_translated("stream_options.include_obfuscation is not supported; ignored")
    if not ctx.model:
        ctx.model = p.model
    _warn_ignored(p, ctx)
    extensions = _openai_extensions(p, ctx)
    return ChatRequest(
        model=p.model,
        messages=messages,
        system=system,
        tools=tools,
        web_search=_web_search_to_ir(p.web_search_options, ctx),
        tool_choice=tool_choice,
        parallel_tool_calls=p.parallel_tool_calls,
        max_tokens=p.max_completion_tokens if p.max_completion_tokens is not None else p.max_tokens,
        temperature=p.temperature,
        top_p=p.top_p,
        top_k=_top_k_to_ir(p.top_k, ctx),
        stop=_stop_to_ir(p.stop),
        n=p.n if p.n is not None else 1,
        presence_penalty=p.presence_penalty,
        frequency_penalty=p.frequency_penalty,
        seed=p.seed,
        user=_user_to_ir(p, ctx),
        output_format=_output_format_to_ir(p.response_format),
        reasoning=_reasoning_to_ir(p),
        metadata=p.metadata or {},
        service_tier=_text_field(p.service_tier, "service_tier", ctx),
        verbosity=_text_field(p.verbosity, "verbosity", ctx),
        logprobs=_logprobs_to_ir(p.logprobs, p.top_logprobs),
        stream=stream,
        extensions=extensions,
        prompt_cache=prompt_cache_to_ir(
            extensions.get(OPENAI_PROMPT_CACHE_KEY), extensions.get(OPENAI_PROMPT_CACHE_RETENTION)
        ),
    )


def _decode_params(body: bytes, ctx: RequestContext) -> ChatCompletionCreateParams:
    try:
        params, unknown = _WITH_TOOLS.decode_known(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    except msgspec.DecodeError:
        raise _unparsable() from None
    for key in unknown:
        ctx.warn_translated(f"{key} is not supported by this route and was ignored")
    return params


def _unparsable() -> InvalidRequestError:
    return InvalidRequestError(
        "We could not parse the JSON body of your request. The body must be valid JSON."
    )


def _validation_error(exc: msgspec.ValidationError) -> InvalidRequestError:
    """msgspec's `<detail> - at `$.path`` → an OpenAI-style message with `param` set."""
    detail, _, path = str(exc).partition(" - at `$")
    param = path.rstrip("`").lstrip(".") or None
    if detail.startswith("Object missing required field"):
        field = detail.split("`")[1]
        full = f"{param}.{field}" if param else field
        return InvalidRequestError(f"Missing required parameter: '{full}'.", param=full)
    if param is None:
        if detail == "Expected `object`, got `array`" or detail.startswith("Expected `object`"):
            return InvalidRequestError("The request body must be a JSON object.")
        return InvalidRequestError(f"Invalid request body: {detail}.")
    return InvalidRequestError(f"Invalid '{param}': {detail[0].lower()}{detail[1:]}.", param=param)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_range(name: str, value: float | None, low: float, high: float | None) -> None:
    if value is None:
        return
    kind = "integer" if isinstance(value, int) else "decimal"
    if value < low:
        raise InvalidRequestError(
            f"Invalid '{name}': {_number(value)} is less than the minimum of {_number(low)}.",
            param=name,
            code=f"{kind}_below_min_value",
        )
    if high is not None and value > high:
        raise InvalidRequestError(
            f"Invalid '{name}': {_number(value)} is greater than the maximum of {_number(high)}.",
            param=name,
            code=f"{kind}_above_max_value",
        )


def _check_ranges(p: ChatCompletionCreateParams) -> None:
    _check_range("temperature", p.temperature, 0, 2)
    _check_range("top_p", p.top_p, 0, 1)
    _check_range("presence_penalty", p.presence_penalty, -2, 2)
    _check_range("frequency_penalty", p.frequency_penalty, -2, 2)
    _check_range("n", p.n, 1, 128)
    _check_range("max_tokens", p.max_tokens, 1, None)
    _check_range("max_completion_tokens", p.max_completion_tokens, 1, None)
    if isinstance(p.stop, list) and len(p.stop) > _MAX_STOP:
        raise InvalidRequestError(
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{_MAX_STOP}, but got an array with length {len(p.stop)} instead.",
            param="stop",
        )
    if p.metadata is not None and len(p.metadata) > _MAX_METADATA:
        raise InvalidRequestError(
            f"Invalid 'metadata': at most {_MAX_METADATA} key-value pairs are allowed.",
            param="metadata",
        )


def _logprobs_to_ir(logprobs: Any, top: Any) -> int | None:
    """ChatRequest.logprobs, checked as OpenAI checks the two fields (kept raw by the
    schema, so that their type errors read like OpenAI's)."""
    if logprobs is not None and not isinstance(logprobs, bool):
        raise _invalid_type("logprobs", "a boolean")
    if top is None:
        return 0 if logprobs else None
    if isinstance(top, bool) or not isinstance(top, int):
        raise _invalid_type("top_logprobs", "an integer")
    _check_range("top_logprobs", top, 0, _MAX_TOP_LOGPROBS)
    if not logprobs:
        raise InvalidRequestError(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is specified.",
            param="top_logprobs",
        )
    return top


def _invalid_type(name: str, expected: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid type for '{name}': expected {expected}.", param=name, code="invalid_type"
    )


def _stop_to_ir(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)


def _tools_to_ir(p: ChatCompletionCreateParams, ctx: RequestContext) -> tuple[FunctionTool, ...]:
    if p.tools is None:
        if p.functions is None:
            return ()
        # The deprecated predecessor of `tools`: answered in its own form (legacy.py).
        ctx.frontend_state = LEGACY_FUNCTIONS
        return functions_to_ir(p.functions)
    tools = _function_tools_to_ir(p.tools, ctx)
    if p.functions:
        return merged_tools(tools, functions_to_ir(p.functions), ctx)
    return tools


def _function_tools_to_ir(
    params: list[ChatCompletionFunctionToolParam | ChatCompletionCustomToolParam],
    ctx: RequestContext,
) -> tuple[FunctionTool, ...]:
    tools: list[FunctionTool] = []
    for i, tool in enumerate(params):
        match tool:
            case ChatCompletionFunctionToolParam(function=fn):
                tools.append(
                    FunctionTool(
                        name=fn.name,
                        description=fn.description,
                        parameters=fn.parameters,
                        strict=fn.strict,
                    )
                )
            case ChatCompletionCustomToolParam():
                # OpenAI's own: relayed as sent on the fast path, refused if translated.
                message = (
                    f"Invalid 'tools[{i}].type': custom tools reach only an OpenAI Chat "
                    "upstream; use function tools."
                )
                ctx.refuse_translated(UnsupportedError(message, param=f"tools[{i}].type"))
            case _:
                assert_never(tool)
    return tuple(tools)


def _tool_choice_to_ir(
    choice: ToolChoiceParam | None, tools: tuple[FunctionTool, ...], ctx: RequestContext
) -> tuple[tuple[FunctionTool, ...], ToolChoice | None]:
    """Returns the tools (narrowed by `allowed_tools`) and the choice."""
    match choice:
        case None:
            return tools, None
        case "none" | "auto" | "required":
            if choice == "required" and not tools and ctx.untranslatable is None:
                raise _no_tools_error()
            return tools, ToolChoice(mode=_MODES[choice])
        case ChatCompletionNamedToolChoiceParam(function=fn):
            _require_tool(fn.name, tools, "tool_choice.function.name")
            return tools, ToolChoice(mode=ToolChoiceMode.NAMED, name=fn.name)
        case ToolChoiceAllowedTools(allowed_tools=allowed):
            names = [t.function.name for t in allowed.tools]
            for j, name in enumerate(names):
                _require_tool(name, tools, f"tool_choice.allowed_tools.tools[{j}].function.name")
            subset = tuple(t for t in tools if t.name in names)
            return subset, ToolChoice(mode=_MODES[allowed.mode])
        case ChatCompletionCustomToolChoiceParam():
            message = "Invalid 'tool_choice.type': custom tools reach only an OpenAI Chat upstream."
            ctx.refuse_translated(UnsupportedError(message, param="tool_choice.type"))
            return tools, None
        case _:
            assert_never(choice)


def _require_tool(name: str, tools: tuple[FunctionTool, ...], param: str) -> None:
    if not tools:
        raise _no_tools_error()
    if all(t.name != name for t in tools):
        raise InvalidRequestError(
            f"Invalid '{param}': no function named '{name}' was given in 'tools'.", param=param
        )


def _no_tools_error() -> InvalidRequestError:
    return InvalidRequestError(
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
        "specified.",
        param="tool_choice",
    )


def _output_format_to_ir(fmt: ResponseFormat | None) -> OutputFormat | None:
    match fmt:
        case None:
            return None
        case ResponseFormatText():
            return OutputFormat(kind=OutputFormatKind.TEXT)
        case ResponseFormatJSONObject():
            return OutputFormat(kind=OutputFormatKind.JSON_OBJECT)
        case ResponseFormatJSONSchema(json_schema=js):
            return OutputFormat(
                kind=OutputFormatKind.JSON_SCHEMA,
                name=js.name,
                schema=js.schema,
                strict=js.strict,
                description=js.description,
            )
        case _:
            assert_never(fmt)


def _reasoning_to_ir(p: ChatCompletionCreateParams) -> ReasoningConfig | None:
    effort = p.reasoning_effort
    if effort is None:
        return None
    if effort == "none":
        return ReasoningConfig(enabled=False)
    return ReasoningConfig(effort=effort)


def _user_to_ir(p: ChatCompletionCreateParams, ctx: RequestContext) -> str | None:
    """The one end-user id for upstreams with a single such field (Anthropic's
    metadata.user_id); OpenAI upstreams get both fields (`_openai_extensions`)."""
    if p.safety_identifier is not None and p.user is not None:
        ctx.warn_translated("with user also set, safety_identifier reaches only OpenAI upstreams")
    return p.user if p.user is not None else p.safety_identifier


def _text_field(value: Any, name: str, ctx: RequestContext) -> str | None:
    """A field the schema keeps raw (the fast path relays any value): only a string is
    one the IR can carry."""
    if value is None or isinstance(value, str):
        return value
    ctx.warn_translated(f"{name} is not a string; ignored")
    return None


def _top_k_to_ir(value: Any, ctx: RequestContext) -> int | None:
    """OpenAI-compatible servers' (vLLM, SGLang) top_k, which Anthropic and Gemini take.
    Kept raw by the schema: the fast path relays any value. Their -1 or 0 mean no
    limit, as no top_k does (Anthropic refuses a negative one)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value if value is not None and value > 0 else None
    ctx.warn_translated("top_k is not an integer; ignored")
    return None


def _openai_extensions(p: ChatCompletionCreateParams, ctx: RequestContext) -> dict[str, Any]:
    """The fields an OpenAI upstream takes and the IR has no room for (ir/request.py), for
    a request that leaves the fast path or goes to a Responses upstream. A cache key only
    steers OpenAI's prompt cache, so other upstreams leave it out without a warning; so
    do the cache's retention and options (a key or a retention still asks an Anthropic
    upstream to cache: ChatRequest.prompt_cache)."""
    out: dict[str, Any] = {}
    key = _text_field(p.prompt_cache_key, "prompt_cache_key", ctx)
    if key is not None:
        out[OPENAI_PROMPT_CACHE_KEY] = key
    retention = _text_field(p.prompt_cache_retention, "prompt_cache_retention", ctx)
    if retention is not None:
        out[OPENAI_PROMPT_CACHE_RETENTION] = retention
    options = p.prompt_cache_options
    if isinstance(options, dict):
        out[OPENAI_PROMPT_CACHE_OPTIONS] = options
    elif options is not None:
        ctx.warn_translated("prompt_cache_options is not an object; ignored")
    if p.safety_identifier is not None:
        out[OPENAI_SAFETY_IDENTIFIER] = p.safety_identifier
        out[OPENAI_USER] = p.user
    return out


def _web_search_to_ir(opts: WebSearchOptions | None, ctx: RequestContext) -> WebSearchTool | None:
    if opts is None:
        return None
    if opts.search_context_size is not None:
        ctx.warn_translated(
            "web_search_options.search_context_size is not supported and was ignored"
        )
    loc = opts.user_location
    if loc is None:
        return WebSearchTool()
    a = loc.approximate
    fields = {"city": a.city, "region": a.region, "country": a.country, "timezone": a.timezone}
    # The same rules as the Messages tool's user_location (two-letter country, IANA zone).
    location = validate_user_location(
        {"type": "approximate", **{k: v for k, v in fields.items() if v is not None}},
        param="web_search_options.user_location.approximate",
    )
    return WebSearchTool(user_location=location)


def _warn_ignored(p: ChatCompletionCreateParams, ctx: RequestContext) -> None:
    for name in _IGNORED_FIELDS:
        value = getattr(p, name)
        # `false` / `null` ask for nothing, so ignoring them loses nothing.
        if value is not None and value is not False:
            ctx.warn_translated(f"{name} is not supported by this route and was ignored")
