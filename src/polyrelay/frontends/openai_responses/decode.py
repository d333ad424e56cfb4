"""Responses request body → IR ChatRequest + ResponsesOptions.

Validation errors become InvalidRequestError naming the field (`$.temperature` →
`temperature`). Fields the IR cannot hold go to ResponsesOptions; fields that change
behaviour and are ignored (max_tool_calls, ...) are recorded as warnings. Token logprobs
are asked for by `include: ["message.output_text.logprobs"]` (with `top_logprobs`
alternatives); `top_logprobs` alone asks for none, as at OpenAI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from polyrelay.codec import CachedMember, DecodeError
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_prompt_cache import prompt_cache_to_ir
from polyrelay.frontends.openai_responses.items import input_to_ir
from polyrelay.frontends.openai_responses.options import (
    LOGPROBS_INCLUDE,
    ResponsesOptions,
    ToolNames,
)
from polyrelay.frontends.openai_responses.tools import tool_choice_to_ir, tools_to_ir
from polyrelay.ir import (
    ChatRequest,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    TextPart,
)
from polyrelay.ir.request import (
    OPENAI_CLIENT_METADATA,
    OPENAI_PROMPT_CACHE_KEY,
    OPENAI_PROMPT_CACHE_OPTIONS,
    OPENAI_PROMPT_CACHE_RETENTION,
    OPENAI_SAFETY_IDENTIFIER,
    OPENAI_USER,
)
from polyrelay.schemas.openai_responses import (
    InputItemParam,
    Reasoning,
    ReasoningParam,
    ResponseCreateParams,
    ResponseCreateParamsStrict,
    TextConfigParam,
    ToolParam,
)

__all__ = ["decode_request", "options_from_params", "parse_params", "request_from_params"]

_PATH = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_TRUNCATION = frozenset({"auto", "disabled"})
_MAX_TOP_LOGPROBS = 20
_WITH_TOOLS = CachedMember(
    ResponseCreateParamsStrict, ResponseCreateParams, "tools", list[ToolParam] | None
)
"""The body, its tool list (the same on every turn of a client) decoded once per list."""


def _param_of(message: str) -> str | None:
    """The field a msgspec validation message names: where it failed, and the missing
    field there if that is the fault (`model` alone has no path)."""
    path, missing = _PATH.search(message), _MISSING.search(message)
    where = path.group(1) if path else ""
    if missing is None:
        return where or None
    return f"{where}.{missing.group(1)}" if where else missing.group(1)


def parse_params(body: bytes, ctx: RequestContext | None = None) -> ResponseCreateParams:
    """The body; with `ctx`, its top-level fields this gateway does not know are warned
    about should the request be translated (the fast path relays them)."""
    try:
        params, unknown = _WITH_TOOLS.decode_known(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(str(exc), param=_param_of(str(exc))) from exc
    except DecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from exc
    if ctx is not None:
        for key in unknown:
            if key == "prompt":  # answered without the template, it is another request
                ctx.refuse_translated(UnsupportedError(_PROMPT_ONLY_RELAYED, param="prompt"))
            else:
                ctx.warn_translated(f"{key} is not supported by the gateway; ignored")
    return params


_PROMPT_ONLY_RELAYED = (
    "prompt: a stored prompt template is kept by OpenAI, so it reaches only a model on an"
    " openai-responses upstream (relayed as sent); for this model, send the prompt's text"
    " as instructions and input"
)


def decode_request(body: bytes, ctx: RequestContext) -> tuple[ChatRequest, ResponsesOptions]:
    """Stateless decode: `input` alone, no stored history."""
    params = parse_params(body, ctx)
    options = options_from_params(params, ctx)
    return request_from_params(params, params.input, options.tool_names, ctx), options


def request_from_params(
    params: ResponseCreateParams,
    items: str | list[InputItemParam] | None,
    names: ToolNames,
    ctx: RequestContext,
    item_params: Sequence[str] | None = None,
) -> ChatRequest:
    """The IR request for `params`, with `items` as the conversation (the request's own
    `input`, or the stored history followed by it; `item_params` names them in errors).
    `names` collects how flattened tool names map back (ResponsesOptions.tool_names)."""
    system, messages = input_to_ir(items, ctx, item_params)
    if params.instructions:
        system.insert(0, TextPart(text=params.instructions))
    tools, web_search = tools_to_ir(params.tools or [], names, ctx)
    choice, tools = tool_choice_to_ir(params.tool_choice, tools, ctx)
    return ChatRequest(
        model=params.model,
        messages=tuple(messages),
        system=tuple(system),
        tools=tuple(tools),
        web_search=web_search,
        tool_choice=choice,
        parallel_tool_calls=params.parallel_tool_calls,
        max_tokens=params.max_output_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        user=params.user or params.safety_identifier,
        output_format=output_format_to_ir(params.text),
        reasoning=reasoning_to_ir(params.reasoning),
        metadata=params.metadata or {},
        service_tier=params.service_tier,
        verbosity=params.text.verbosity if params.text is not None else None,
        logprobs=_logprobs_to_ir(params),
        stream=bool(params.stream),
        extensions=_openai_extensions(params),
        prompt_cache=prompt_cache_to_ir(params.prompt_cache_key, params.prompt_cache_retention),
    )


def _logprobs_to_ir(params: ResponseCreateParams) -> int | None:
    """ChatRequest.logprobs: the alternatives asked for, if the tokens are."""
    top = params.top_logprobs
    if top is not None and not 0 <= top <= _MAX_TOP_LOGPROBS:
        raise InvalidRequestError(
            f"Invalid 'top_logprobs': {top} is not between 0 and {_MAX_TOP_LOGPROBS}.",
            param="top_logprobs",
        )
    if params.include and LOGPROBS_INCLUDE in params.include:
        return top or 0
    return None


def _openai_extensions(params: ResponseCreateParams) -> dict[str, Any]:
    """The fields an OpenAI upstream takes and the IR has no room for (ir/request.py), for
    a request that leaves the fast path; Codex sends prompt_cache_key and client_metadata
    on every request, and without them OpenAI loses the prompt-cache affinity."""
    out: dict[str, Any] = {}
    if params.prompt_cache_key is not None:
        out[OPENAI_PROMPT_CACHE_KEY] = params.prompt_cache_key
    if params.prompt_cache_retention is not None:
        out[OPENAI_PROMPT_CACHE_RETENTION] = params.prompt_cache_retention
    if params.prompt_cache_options is not None:
        out[OPENAI_PROMPT_CACHE_OPTIONS] = params.prompt_cache_options
    if params.client_metadata is not None:
        out[OPENAI_CLIENT_METADATA] = params.client_metadata
    if params.safety_identifier is not None:
        out[OPENAI_SAFETY_IDENTIFIER] = params.safety_identifier
        out[OPENAI_USER] = params.user
    return out


def options_from_params(params: ResponseCreateParams, ctx: RequestContext) -> ResponsesOptions:
    if params.conversation is not None:
        raise UnsupportedError("conversation objects are not supported", param="conversation")
    truncation = params.truncation or "disabled"
    if truncation not in _TRUNCATION:
        raise InvalidRequestError(f"invalid truncation {truncation!r}", param="truncation")
    _warn_ignored(params, ctx)
    reasoning = params.reasoning
    return ResponsesOptions(
        store=params.store is not False,
        include=tuple(params.include or ()),
        truncation=truncation,
        previous_response_id=params.previous_response_id,
        background=bool(params.background),
        instructions=params.instructions,
        tool_names=ToolNames(),
        tools=params.tools or [],
        tool_choice=params.tool_choice or "auto",
        parallel_tool_calls=params.parallel_tool_calls is not False,
        temperature=params.temperature,
        top_p=params.top_p,
        max_output_tokens=params.max_output_tokens,
        reasoning=Reasoning(effort=reasoning.effort, summary=_summary(reasoning))
        if reasoning is not None
        else None,
        text=params.text,
        metadata=params.metadata or {},
        user=params.user,
        prompt_cache_key=params.prompt_cache_key,
        service_tier=params.service_tier,
    )


def _warn_ignored(params: ResponseCreateParams, ctx: RequestContext) -> None:
    if params.safety_identifier and params.user:
        # Upstreams with one end-user field (Anthropic's metadata.user_id) get `user`.
        ctx.warn_translated("with user also set, safety_identifier reaches only OpenAI upstreams")
    if params.reasoning is not None:
        for name in ("mode", "context"):  # OpenAI's own reasoning modes
            if getattr(params.reasoning, name) is not None:
                ctx.warn_translated(f"reasoning.{name} is not supported by the gateway; ignored")
    if params.max_tool_calls is not None:
        ctx.warn_translated("max_tool_calls is not supported by the gateway; ignored")


def _summary(reasoning: ReasoningParam) -> str | None:
    return reasoning.summary or reasoning.generate_summary


def reasoning_to_ir(reasoning: ReasoningParam | None) -> ReasoningConfig | None:
    if reasoning is None:
        return None
    if reasoning.effort == "none":
        return ReasoningConfig(enabled=False)
    return ReasoningConfig(effort=reasoning.effort, summary=_summary(reasoning))


def output_format_to_ir(text: TextConfigParam | None) -> OutputFormat | None:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return OutputFormat(kind=OutputFormatKind.JSON_OBJECT)
    if fmt.type != "json_schema":
        raise InvalidRequestError(f"invalid text.format type {fmt.type!r}", param="text.format")
    if not fmt.name or fmt.schema is None:
        raise InvalidRequestError(
            "text.format json_schema needs name and schema", param="text.format.schema"
        )
    return OutputFormat(
        kind=OutputFormatKind.JSON_SCHEMA,
        name=fmt.name,
        schema=fmt.schema,
        strict=fmt.strict,
        description=fmt.description,
    )
