"""IR → Chat Completions: the `chat.completion` body, usage, finish reasons and errors.

Reasoning text is returned in the non-standard `message.reasoning_content` field (the
DeepSeek/vLLM convention) only when the response has some; the official SDK keeps unknown
fields, so nothing breaks for clients that ignore it. Web citations become
`url_citation` annotations with offsets into the joined `content`. A request on the legacy
`functions` API gets its call as `message.function_call` (legacy.py). Token logprobs go
to `choices[].logprobs` when the text parts carry them (asked for, and the upstream gave
them), else `logprobs: null`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from msgspec import UNSET

from polyrelay import codec
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_chat import legacy
from polyrelay.frontends.openai_errors import encode_openai_error, openai_error
from polyrelay.frontends.openai_logprobs import choice_logprobs
from polyrelay.ir import ChatResponse, ReasoningPart, StopReason, TextPart, ToolCallPart, Usage
from polyrelay.schemas.openai_chat import (
    Annotation,
    AnnotationURLCitation,
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Choice,
    CompletionTokensDetails,
    CompletionUsage,
    ErrorObject,
    FunctionCall,
    PromptTokensDetails,
)

__all__ = [
    "encode_error",
    "encode_response",
    "error_from_gateway",
    "finish_reason_from_ir",
    "usage_from_ir",
]


def encode_response(responses: Sequence[ChatResponse], ctx: RequestContext) -> bytes:
    usage = Usage()
    choices: list[Choice] = []
    functions = ctx.frontend_state is legacy.LEGACY_FUNCTIONS
    for i, response in enumerate(responses):
        usage = usage + response.usage
        message = message_from_ir(response)
        finish = finish_reason_from_ir(response.stop_reason)
        if functions and legacy.legacy_message(message, ctx) and finish == "tool_calls":
            finish = legacy.FINISH_REASON
        logprobs = choice_logprobs(p for p in response.parts if isinstance(p, TextPart))
        choices.append(Choice(index=i, message=message, logprobs=logprobs, finish_reason=finish))
    completion = ChatCompletion(
        id=new_id("chatcmpl-"),
        created=ctx.created,
        model=ctx.model,
        choices=choices,
        usage=usage_from_ir(usage),
    )
    return codec.encode(completion)


def message_from_ir(response: ChatResponse) -> ChatCompletionMessage:
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[ChatCompletionMessageToolCall] = []
    annotations: list[Annotation] = []
    offset = 0
    for part in response.parts:
        if isinstance(part, TextPart) and part.refusal:
            refusals.append(part.text)
        elif isinstance(part, TextPart):
            annotations.extend(_annotations_from_ir(part, offset))
            texts.append(part.text)
            offset += len(part.text)
        elif isinstance(part, ToolCallPart):
            fn = FunctionCall(name=part.name, arguments=part.arguments)
            calls.append(ChatCompletionMessageToolCall(id=part.id, function=fn))
        elif isinstance(part, ReasoningPart) and part.text:
            reasoning.append(part.text)
    # OpenAI sends `content: null` when the message is only tool calls or a refusal.
    content = "".join(texts) if texts or not (calls or refusals) else None
    return ChatCompletionMessage(
        content=content,
        refusal="".join(refusals) if refusals else None,
        tool_calls=calls or UNSET,
        annotations=annotations,  # `[]` without citations, as OpenAI sends it
        reasoning_content="".join(reasoning) if reasoning else UNSET,
    )


def _annotations_from_ir(part: TextPart, offset: int) -> list[Annotation]:
    out: list[Annotation] = []
    for c in part.citations:
        start = offset + (c.start_index if c.start_index is not None else 0)
        end = offset + (c.end_index if c.end_index is not None else len(part.text))
        cite = AnnotationURLCitation(
            start_index=start, end_index=end, url=c.url, title=c.title or ""
        )
        out.append(Annotation(url_citation=cite))
    return out


def finish_reason_from_ir(reason: StopReason) -> str:
    match reason:
        case StopReason.END_TURN | StopReason.STOP_SEQUENCE | StopReason.PAUSE_TURN:
            return "stop"
        case StopReason.MAX_TOKENS | StopReason.CONTEXT_WINDOW:
            return "length"
        case StopReason.TOOL_USE:
            return "tool_calls"
        case StopReason.REFUSAL:
            return "content_filter"
        case _:
            assert_never(reason)


def usage_from_ir(usage: Usage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.input_tokens + usage.output_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens or UNSET,
        ),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
    )


def error_from_gateway(error: GatewayError) -> tuple[int, ErrorObject]:
    """The HTTP status and the `error` object for a gateway error (shared with Responses)."""
    return openai_error(error)


def encode_error(error: GatewayError) -> tuple[int, bytes]:
    return encode_openai_error(error)
