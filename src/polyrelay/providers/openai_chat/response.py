"""Chat Completions response and error bodies → IR.

Parts come out in the order reasoning (non-standard `reasoning_content` / `reasoning`,
with no signature, origin None), text (a `refusal` counts as text), then tool calls;
the stream parser emits the same order so that folding a stream equals parsing the body.
An array `content` (Mistral's magistral) gives both reasoning and text (content_array.py).
Some OpenAI-compatible servers finish a tool-calling turn with `stop`: any tool call
makes the stop reason TOOL_USE. A tool call's empty arguments (`""`, which some
OpenAI-compatible servers send for a tool without parameters) become `{}`, as in the
stream parser: `""` is not JSON. A choice's token `logprobs` go on its text (`content`)
and refusal (`refusal`) parts.

The legacy `functions` API answers with `message.function_call: {name, arguments}` and
finish reason `function_call` (OpenAI still does for a request that uses it, and some
compatible servers only know this form). It is the same thing as a one-element
`tool_calls` without an id, and becomes that tool call with an id issued here: the IR
(and every client protocol) needs one to pair the result with the call.
"""

from __future__ import annotations

import msgspec

from polyrelay.context import new_id
from polyrelay.errors import UpstreamError
from polyrelay.ir import (
    ChatResponse,
    Part,
    ReasoningPart,
    StopReason,
    TextPart,
    TokenLogprob,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import UpstreamResponse, surrogates
from polyrelay.providers.openai_chat.content_array import Warn, read_array
from polyrelay.providers.openai_errors import parse_error
from polyrelay.providers.openai_logprobs import tokens_to_ir
from polyrelay.schemas.openai_chat import (
    ChatCompletion,
    ChatCompletionMessage,
    CompletionUsage,
    FunctionCall,
)
from polyrelay.schemas.openai_logprobs import ChoiceLogprobs

__all__ = ["choice_tokens", "parse_choices", "parse_error", "stop_reason_to_ir", "usage_to_ir"]

_STOP_REASONS = {
    "stop": StopReason.END_TURN,
    "length": StopReason.MAX_TOKENS,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "content_filter": StopReason.REFUSAL,
}


def stop_reason_to_ir(reason: str | None, has_tool_calls: bool) -> StopReason:
    stop = _STOP_REASONS.get(reason or "stop", StopReason.END_TURN)
    if has_tool_calls and stop is StopReason.END_TURN:
        return StopReason.TOOL_USE
    return stop


def usage_to_ir(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=prompt.cached_tokens if prompt is not None else 0,
        cache_write_tokens=prompt.cache_write_tokens or 0 if prompt is not None else 0,
        reasoning_tokens=completion.reasoning_tokens if completion is not None else 0,
    )


def _reasoning_text(msg: ChatCompletionMessage) -> str | None:
    for value in (msg.reasoning_content, msg.reasoning):
        if isinstance(value, str) and value:
            return value
    return None


def _parts_to_ir(
    msg: ChatCompletionMessage, logprobs: ChoiceLogprobs | None, warn: Warn
) -> list[Part]:
    parts: list[Part] = []
    reasoning, text = _reasoning_text(msg), msg.content
    if isinstance(text, list):  # a rare shape: the common path pays one check
        reasoning, text = read_array(reasoning, text, warn)
    if reasoning:
        parts.append(ReasoningPart(text=reasoning))
    if text:
        parts.append(TextPart(text=text, logprobs=choice_tokens(logprobs, refusal=False)))
    if msg.refusal:
        tokens = choice_tokens(logprobs, refusal=True)
        parts.append(TextPart(text=msg.refusal, refusal=True, logprobs=tokens))
    for call in msg.tool_calls or ():
        fn = call.function
        parts.append(ToolCallPart(id=call.id, name=fn.name, arguments=fn.arguments or "{}"))
    legacy = msg.function_call
    if isinstance(legacy, FunctionCall):
        call_id = new_id("call_")
        parts.append(ToolCallPart(id=call_id, name=legacy.name, arguments=legacy.arguments or "{}"))
    return parts


def choice_tokens(
    logprobs: ChoiceLogprobs | None, *, refusal: bool
) -> tuple[TokenLogprob, ...] | None:
    """The tokens of the content (or of the refusal), None when the upstream sent none."""
    if logprobs is None:
        return None
    entries = logprobs.refusal if refusal else logprobs.content
    return tokens_to_ir(entries) if entries is not None else None


def parse_choices(response: UpstreamResponse, warn: Warn) -> list[ChatResponse]:
    """Every choice of a `chat.completion` body, in index order; usage is on the first."""
    try:
        body = surrogates.decode_whole(response.body, ChatCompletion)
    except msgspec.DecodeError as exc:
        raise UpstreamError(
            f"upstream sent an invalid chat.completion: {exc}", status=502
        ) from None
    if not body.choices:
        raise UpstreamError("upstream sent a chat.completion without choices", status=502)
    usage = usage_to_ir(body.usage)
    out: list[ChatResponse] = []
    for choice in sorted(body.choices, key=lambda c: c.index):
        parts = _parts_to_ir(choice.message, choice.logprobs, warn)
        has_calls = any(isinstance(p, ToolCallPart) for p in parts)
        out.append(
            ChatResponse(
                id=body.id,
                model=body.model,
                parts=tuple(parts),
                stop_reason=stop_reason_to_ir(choice.finish_reason, has_calls),
                usage=usage if not out else Usage(),
            )
        )
    return out
