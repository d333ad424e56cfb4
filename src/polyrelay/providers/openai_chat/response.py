"""Chat Completions response and error bodies → IR.

Parts come out in the order reasoning (non-standard `reasoning_content` / `reasoning`,
with no signature, origin None), text (a `refusal` counts as text), then tool calls;
the stream parser emits the same order so that folding a stream equals parsing the body.
Some OpenAI-compatible servers finish a tool-calling turn with `stop`: any tool call
makes the stop reason TOOL_USE.
"""

from __future__ import annotations

from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.errors import UpstreamError, kind_for_status
from polyrelay.ir import (
    ChatResponse,
    Part,
    ReasoningPart,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.schemas.openai_chat import (
    ChatCompletion,
    ChatCompletionMessage,
    CompletionUsage,
    ErrorResponse,
)

__all__ = ["parse_choices", "parse_error", "stop_reason_to_ir", "usage_to_ir"]

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
        reasoning_tokens=completion.reasoning_tokens if completion is not None else 0,
    )


def _reasoning_text(msg: ChatCompletionMessage) -> str | None:
    for value in (msg.reasoning_content, msg.reasoning):
        if isinstance(value, str) and value:
            return value
    return None


def _parts_to_ir(msg: ChatCompletionMessage) -> list[Part]:
    parts: list[Part] = []
    reasoning = _reasoning_text(msg)
    if reasoning is not None:
        parts.append(ReasoningPart(text=reasoning))
    text = (msg.content or "") + (msg.refusal or "")
    if text:
        parts.append(TextPart(text=text))
    for call in msg.tool_calls or ():
        fn = call.function
        parts.append(ToolCallPart(id=call.id, name=fn.name, arguments=fn.arguments))
    return parts


def parse_choices(response: UpstreamResponse) -> list[ChatResponse]:
    """Every choice of a `chat.completion` body, in index order; usage is on the first."""
    try:
        body = codec.decode_as(response.body, ChatCompletion)
    except msgspec.DecodeError as exc:
        raise UpstreamError(
            f"upstream sent an invalid chat.completion: {exc}", status=502
        ) from None
    if not body.choices:
        raise UpstreamError("upstream sent a chat.completion without choices", status=502)
    usage = usage_to_ir(body.usage)
    out: list[ChatResponse] = []
    for choice in sorted(body.choices, key=lambda c: c.index):
        parts = _parts_to_ir(choice.message)
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


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, param) from an OpenAI error body or a compatible server's variant."""
    try:
        err = codec.decode_as(body, ErrorResponse).error
        code = str(err.code) if err.code is not None else None
        return err.message or None, code, err.param
    except msgspec.DecodeError:
        pass
    try:
        raw: Any = codec.decode(body)
    except msgspec.DecodeError:
        return None, None, None
    if isinstance(raw, dict):
        # vLLM: {"object": "error", "message": ...}; some proxies: {"error": "..."}.
        for key in ("message", "error", "detail"):
            if isinstance(raw.get(key), str):
                return raw[key], None, None
    return None, None, None


def parse_error(response: UpstreamResponse) -> UpstreamError:
    status = response.status
    message, code, param = _error_fields(response.body)
    if message is None:
        text = response.body[:200].decode("utf-8", errors="replace").strip()
        message = text or f"upstream answered HTTP {status}"
    if status in (401, 403):
        return UpstreamError(
            f"The upstream provider rejected the gateway's credentials (HTTP {status}): {message}",
            status=500,
            kind="api_error",
        )
    return UpstreamError(
        message,
        status=status,
        kind=kind_for_status(status),
        code=code,
        param=param,
        retry_after=response.headers.get("retry-after"),
    )
