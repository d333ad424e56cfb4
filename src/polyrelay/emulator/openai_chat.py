"""OpenAI Chat Completions: `POST /v1/chat/completions`, plain and streamed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.dialect import Reply, ReplyContext, resolve_tool_name
from polyrelay.emulator.errors import openai_error
from polyrelay.emulator.logprobs import chat_top_logprobs, entries
from polyrelay.emulator.openai_reasoning import (
    refuse_effort_to_non_reasoning,
    refuse_minimal_effort,
    refuse_samplers,
    refuse_verbosity,
)
from polyrelay.emulator.output_limits import refuse_openai_past_limit
from polyrelay.emulator.prompt_cache import openai_prompt
from polyrelay.emulator.script import (
    Conversation,
    Finish,
    Plan,
    RequestError,
    ToolCall,
    ToolResult,
    read_limit,
    read_stop_sequences,
)
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame
from polyrelay.emulator.strict_schema import refuse_loose_strict_tools
from polyrelay.emulator.structured import schema_of
from polyrelay.emulator.tool_choice import chat_tool_choice
from polyrelay.emulator.tool_names import refuse_openai_names
from polyrelay.emulator.wire import (
    as_list,
    as_object,
    as_str,
    collapse,
    count_words,
    new_id,
    parts_text,
)

__all__ = ["ChatDialect", "chat_usage"]

SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
"""OpenAI answers a model alias with the dated snapshot that served it."""

FINISH_REASON = {
    Finish.END: "stop",
    Finish.STOP_SEQUENCE: "stop",
    Finish.LENGTH: "length",
    Finish.TOOL_USE: "tool_calls",
}
_REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?:[-.].*)?")
_SYSTEM_ROLES = frozenset({"system", "developer"})
_MAX_STOP = 4
_MAX_CALL_ID = 40
_EFFORT = "reasoning_effort"


def _stop(body: JSONObject) -> list[str]:
    """As OpenAI: at most 4 stop sequences."""
    stop = read_stop_sequences(body.get("stop"), "stop")
    if len(stop) > _MAX_STOP:
        raise RequestError(
            400,
            "Invalid 'stop': array too long. Expected an array with maximum length "
            f"{_MAX_STOP}, but got an array with length {len(stop)} instead.",
            "stop",
        )
    return stop


class ChatDialect:
    def conversation(self, body: JSONObject, call_names: BoundedMemory) -> Conversation:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "messages: a non-empty array is required", "messages")
        messages = [as_object(message) for message in messages]
        _refuse_empty_content(messages)
        _refuse_unpaired_tools(messages)
        _refuse_long_call_ids(messages)
        _refuse_metadata_without_store(body)
        _refuse_max_tokens_to_reasoning_models(body)
        _refuse_reasoning_shapes(body)
        texts, local_names, user_text = _read_messages(messages)
        tools = [_tool_function(tool) for tool in as_list(body.get("tools"))]
        tools += [as_object(function) for function in as_list(body.get("functions"))]
        refuse_openai_names(_named_tools(body))
        refuse_loose_strict_tools(body)
        # Tool definitions go before the conversation in the prompt, so in the cache's order.
        texts = [as_str(tool.get("description")) for tool in tools] + texts
        words = sum(map(count_words, texts))
        schemas = {as_str(tool.get("name")): as_object(tool.get("parameters")) for tool in tools}
        chat_top_logprobs(body)  # refused here, before any answer, when invalid
        model, retention = as_str(body.get("model")), body.get("prompt_cache_retention")
        return Conversation(
            user_text=user_text,
            tool_results=_trailing_tool_results(messages, local_names, call_names),
            tool_names=set(schemas),
            tool_schemas=schemas,
            tool_choice=chat_tool_choice(body, schemas),
            input_tokens=words,
            max_tokens=_max_tokens(body),
            stop_sequences=_stop(body),
            output_schema=schema_of(body.get("response_format")),
            cached_prompt=openai_prompt(model, texts, words, retention),
        )

    def reply(self, plan: Plan, body: JSONObject) -> Reply:
        model = as_str(body.get("model"))
        context = ReplyContext(SNAPSHOTS.get(model, model), new_id("chatcmpl-"))
        headers = {"x-request-id": new_id("req_")}
        choices = _choice_count(body)
        top = chat_top_logprobs(body)
        if body.get("stream") is True:
            include_usage = as_object(body.get("stream_options")).get("include_usage") is True
            frames = _chunks(plan, _ChunkWriter(context, include_usage, top), choices)
            return Reply(frames=frames, headers=headers)
        completion = _completion(plan, context, choices, top)
        return Reply(body=encode(completion), headers=headers, media_type="application/json")

    def error(
        self,
        status: int,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Response:
        return openai_error(status, message, param, code)


def _choice_count(body: JSONObject) -> int:
    """`n`: every choice is the same deterministic reply."""
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise RequestError(400, "n: an integer from 1 to 128 is required", "n")
    return n


def _named_tools(body: JSONObject) -> list[tuple[str, str]]:
    named = []
    for i, tool in enumerate(map(as_object, as_list(body.get("tools")))):
        kind = "custom" if tool.get("type") == "custom" else "function"
        named.append((f"tools[{i}].{kind}.name", as_str(as_object(tool.get(kind)).get("name"))))
    for i, function in enumerate(map(as_object, as_list(body.get("functions")))):
        named.append((f"functions[{i}].name", as_str(function.get("name"))))
    return named


def _tool_function(tool: object) -> JSONObject:
    tool = as_object(tool)
    return as_object(tool.get("function") or tool.get("custom"))


def _refuse_unpaired_tools(messages: list[JSONObject]) -> None:
    """As the API: an assistant's `tool_calls` are each answered by a `tool` message right
    after it, and a `tool` message answers a call of the assistant message before."""
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = as_str(message.get("tool_call_id"))
            if call_id not in pending:
                raise RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.discard(call_id)
            continue
        if pending and role not in _SYSTEM_ROLES:
            raise RequestError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}",
                "messages",
            )
        calls = as_list(message.get("tool_calls")) if role == "assistant" else []
        pending = {as_str(as_object(call).get("id")) for call in calls}


def _refuse_empty_content(messages: list[JSONObject]) -> None:
    """As the API: a message's content array has at least one part."""
    for i, message in enumerate(messages):
        if message.get("content") == []:
            param = f"messages[{i}].content"
            raise RequestError(
                400,
                f"Invalid '{param}': empty array. Expected an array with minimum length 1, but"
                " got an empty array instead.",
                param,
                code="empty_array",
            )


def _refuse_long_call_ids(messages: list[JSONObject]) -> None:
    """As the API: a tool call's id is at most 40 characters."""
    for i, message in enumerate(messages):
        for j, call in enumerate(map(as_object, as_list(message.get("tool_calls")))):
            length = len(as_str(call.get("id")))
            if length > _MAX_CALL_ID:
                param = f"messages[{i}].tool_calls[{j}].id"
                raise RequestError(
                    400,
                    f"Invalid '{param}': string too long. Expected a string with maximum length"
                    f" {_MAX_CALL_ID}, but got a string with length {length} instead.",
                    param,
                )


def _refuse_metadata_without_store(body: JSONObject) -> None:
    """As the API: `metadata` tags stored completions, and is refused without `store`."""
    if body.get("metadata") and body.get("store") is not True:
        raise RequestError(
            400, "The 'metadata' parameter is only allowed when 'store' is enabled.", "metadata"
        )


def _max_tokens(body: JSONObject) -> int | None:
    """The answer's length, refused past the model's limit as the API does."""
    param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    value = read_limit(body.get(param), param)
    refuse_openai_past_limit(as_str(body.get("model")), value, param)
    return value


def _refuse_max_tokens_to_reasoning_models(body: JSONObject) -> None:
    """As the API: o-series and gpt-5 models take only `max_completion_tokens`."""
    if body.get("max_tokens") is not None and _REASONING_MODEL.fullmatch(as_str(body.get("model"))):
        raise RequestError(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use"
            " 'max_completion_tokens' instead.",
            "max_tokens",
        )


def _refuse_reasoning_shapes(body: JSONObject) -> None:
    """As the API: OpenAI's reasoning rules (openai_reasoning) on `reasoning_effort`."""
    model, effort = as_str(body.get("model")), body.get("reasoning_effort")
    refuse_minimal_effort(model, effort, _EFFORT)
    refuse_samplers(body, model, effort)
    refuse_effort_to_non_reasoning(model, effort, _EFFORT)
    refuse_verbosity(model, body.get("verbosity"), "verbosity")


def _read_messages(messages: list[JSONObject]) -> tuple[list[str], dict[str, str], str]:
    texts: list[str] = []
    local_names: dict[str, str] = {}
    user_text = ""
    for message in messages:
        text = parts_text(message.get("content"))
        texts.append(text)
        if message.get("role") == "user":
            user_text = text
        for call in map(as_object, as_list(message.get("tool_calls"))):
            function = as_object(call.get("function"))
            local_names[as_str(call.get("id"))] = as_str(function.get("name"))
            texts.append(as_str(function.get("arguments")))
    return texts, local_names, user_text


def _trailing_tool_results(
    messages: list[JSONObject], local_names: dict[str, str], call_names: BoundedMemory
) -> list[ToolResult]:
    results: list[ToolResult] = []
    for message in reversed(messages):
        role = message.get("role")
        if role in _SYSTEM_ROLES:
            continue
        if role == "tool":
            name = resolve_tool_name(as_str(message.get("tool_call_id")), local_names, call_names)
        elif role == "function":
            name = as_str(message.get("name"), "unknown")
        else:
            break
        results.append(ToolResult(name, collapse(parts_text(message.get("content")))))
    results.reverse()
    return results


def chat_usage(plan: Plan, choices: int = 1) -> JSONObject:
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens * choices,
        "total_tokens": plan.input_tokens + plan.output_tokens * choices,
        "prompt_tokens_details": {"cached_tokens": plan.cache.read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call(call: ToolCall) -> JSONObject:
    return {
        "id": f"call_{call.token}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_json},
    }


def _logprobs(plan: Plan, top: int | None, chunks: list[str]) -> JSONObject | None:
    """A choice's (or a chunk's) `logprobs`: the tokens under `refusal` for a refusal."""
    if top is None:
        return None
    tokens = entries(chunks, top)
    return (
        {"content": None, "refusal": tokens}
        if plan.refused
        else {"content": tokens, "refusal": None}
    )


def _completion(plan: Plan, context: ReplyContext, choices: int, top: int | None) -> JSONObject:
    message: JSONObject = {
        "role": "assistant",
        "content": plan.text if (plan.text or not plan.tool_calls) and not plan.refused else None,
        "refusal": plan.text if plan.refused else None,
        "annotations": [],
    }
    if plan.thinking:
        # Non-standard, as DeepSeek/vLLM send it: Chat Completions has no reasoning field.
        message["reasoning_content"] = plan.thinking
    if plan.tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in plan.tool_calls]
    return {
        "id": context.response_id,
        "object": "chat.completion",
        "created": context.created,
        "model": context.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": index,
                "message": message,
                "logprobs": _logprobs(plan, top, plan.chunks),
                "finish_reason": FINISH_REASON[plan.finish],
            }
            for index in range(choices)
        ],
        "usage": chat_usage(plan, choices),
    }


class _ChunkWriter:
    """Encodes chunks around a pre-encoded envelope: only the delta changes per chunk."""

    def __init__(self, context: ReplyContext, include_usage: bool, top: int | None) -> None:
        self.top = top
        envelope = encode(
            {
                "id": context.response_id,
                "object": "chat.completion.chunk",
                "created": context.created,
                "model": context.model,
                "system_fingerprint": None,
            }
        )
        self._head = b"data: " + envelope[:-1] + b',"choices":'
        self._usage_tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self.include_usage = include_usage

    def delta(
        self,
        delta: JSONObject,
        finish_reason: str | None = None,
        index: int = 0,
        logprobs: JSONObject | None = None,
    ) -> bytes:
        choice = b'[{"index":%d,"delta":' % index
        logprobs_json = b"null" if logprobs is None else encode(logprobs)
        choice += encode(delta) + b',"logprobs":' + logprobs_json + b',"finish_reason":'
        return self._head + choice + encode(finish_reason) + b"}]" + self._usage_tail

    def usage(self, usage: JSONObject) -> bytes:
        return self._head + b'[],"usage":' + encode(usage) + b"}\n\n"


def _chunks(plan: Plan, writer: _ChunkWriter, choices: int) -> Iterator[Frame]:
    for choice in range(choices):
        yield from _choice_chunks(plan, writer, choice)
    if writer.include_usage:
        yield writer.usage(chat_usage(plan, choices)), False
    yield b"data: [DONE]\n\n", False


def _choice_chunks(plan: Plan, writer: _ChunkWriter, choice: int) -> Iterator[Frame]:
    yield writer.delta({"role": "assistant", "content": "", "refusal": None}, None, choice), False
    for word in plan.thinking_chunks:
        yield writer.delta({"reasoning_content": word}, None, choice), True
    member = "refusal" if plan.refused else "content"
    top = writer.top
    for word in plan.chunks:  # the slow-streams benchmark's upstream: nothing spared per word
        logprobs = None if top is None else _logprobs(plan, top, [word])
        yield writer.delta({member: word}, None, choice, logprobs), True
    for index, call in enumerate(plan.tool_calls):
        for fragment in _tool_call_fragments(index, call):
            yield writer.delta({"tool_calls": [fragment]}, None, choice), True
    yield writer.delta({}, FINISH_REASON[plan.finish], choice), False


def _tool_call_fragments(index: int, call: ToolCall) -> list[dict[str, Any]]:
    """The id, type and name only in the first fragment: clients concatenate every string."""
    arguments = call.arguments_json
    middle = max(len(arguments) // 2, 1)
    first = {
        "index": index,
        "id": f"call_{call.token}",
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    return [first] + [
        {"index": index, "function": {"arguments": part}}
        for part in (arguments[:middle], arguments[middle:])
    ]
