"""Anthropic Messages: `POST /v1/messages` (plain and streamed) and `/count_tokens`.

Web search (the `web_search_20250305` server tool): each `[[search QUERY]]` in the last user
message becomes a `server_tool_use` (`srvtoolu_…`, input `{query}`) and a
`web_search_tool_result` of three deterministic results
(`https://example.com/<slug>-<i>`, "Result <i> for <query>"); searches beyond the tool's
`max_uses` get the `max_uses_exceeded` error instead. The reply's text block then cites the
first result, and usage counts `server_tool_use.web_search_requests`.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.anthropic_cache import anthropic_usage, block_text, cached_prompt
from polyrelay.emulator.anthropic_checks import refuse_shapes
from polyrelay.emulator.anthropic_search import citation, search_blocks
from polyrelay.emulator.dialect import Reply, ReplyContext, resolve_tool_name
from polyrelay.emulator.errors import anthropic_error
from polyrelay.emulator.output_limits import refuse_anthropic_past_limit
from polyrelay.emulator.script import (
    Conversation,
    Finish,
    Plan,
    RequestError,
    ToolCall,
    ToolResult,
    read_limit,
    read_stop_sequences,
    signature_hex,
)
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame
from polyrelay.emulator.structured import schema_of
from polyrelay.emulator.tool_choice import anthropic_tool_choice
from polyrelay.emulator.tool_names import refuse_anthropic_names
from polyrelay.emulator.wire import (
    as_list,
    as_object,
    as_str,
    collapse,
    count_words,
    json_text,
    new_id,
    parts_text,
)
from polyrelay.sse import encode_event

__all__ = ["AnthropicDialect"]

STOP_REASON = {
    Finish.END: "end_turn",
    Finish.LENGTH: "max_tokens",
    Finish.STOP_SEQUENCE: "stop_sequence",
    Finish.TOOL_USE: "tool_use",
}


_SEARCH_TYPE = "web_search_"
_MIN_BUDGET = 1024
_CLIENT_TYPES = (None, "custom")
_START_ONLY_USAGE = frozenset({"service_tier", "cache_creation"})


class AnthropicDialect:
    def conversation(
        self, body: JSONObject, call_names: BoundedMemory, *, counting: bool = False
    ) -> Conversation:
        messages = _messages(body)
        system = body.get("system")
        if isinstance(system, list):
            _refuse_invalid_blocks([as_object(block) for block in system])
        max_tokens = read_limit(body.get("max_tokens"), "max_tokens")
        if max_tokens is None and not counting:
            raise RequestError(400, "max_tokens: Field required", "max_tokens")
        if not counting:
            refuse_anthropic_past_limit(as_str(body.get("model")), max_tokens)
        texts = [parts_text(body.get("system"))]
        local_names: dict[str, str] = {}
        user_text = ""
        for role, blocks in messages:
            texts += [block_text(block) for block in blocks]
            for block in blocks:
                if block.get("type") == "tool_use":
                    local_names[as_str(block.get("id"))] = as_str(block.get("name"))
            if role == "user" and any(block.get("type") != "tool_result" for block in blocks):
                user_text = parts_text([b for b in blocks if b.get("type") == "text"])
        tools = [as_object(tool) for tool in as_list(body.get("tools"))]
        refuse_anthropic_names(
            (f"tools.{i}.custom.name", as_str(t.get("name")))
            for i, t in enumerate(tools)
            if t.get("type") in _CLIENT_TYPES
        )
        texts += [as_str(tool.get("description")) for tool in tools]
        search = next((t for t in tools if as_str(t.get("type")).startswith(_SEARCH_TYPE)), None)
        max_uses = search.get("max_uses") if search is not None else None
        # Server tools are the provider's own; `[[tool NAME]]` calls only client tools.
        schemas = {
            as_str(t.get("name")): as_object(t.get("input_schema"))
            for t in tools
            if t.get("type") in _CLIENT_TYPES
        }
        thinks = _thinks(body.get("thinking"), max_tokens, counting=counting)
        refuse_shapes(body, messages, tools, thinks=thinks)
        # `adaptive` lets the model skip its thinking (a turn without a thinking block,
        # which must come back as it was): only `enabled` always opens with one.
        if thinks and as_object(body.get("thinking")).get("type") == "enabled":
            _refuse_tool_loop_without_thinking(messages)
        return Conversation(
            user_text=user_text,
            tool_results=_trailing_tool_results(messages, local_names, call_names),
            tool_names=set(schemas),
            tool_schemas=schemas,
            tool_choice=anthropic_tool_choice(body, schemas, thinks=thinks),
            search_tool=as_str(search.get("name")) or "web_search" if search else None,
            search_max_uses=max_uses if isinstance(max_uses, int) else None,
            output_schema=schema_of(as_object(body.get("output_config")).get("format")),
            thinks=thinks,
            continues=bool(messages) and messages[-1][0] == "assistant",
            input_tokens=sum(map(count_words, texts)),
            max_tokens=max_tokens,
            stop_sequences=read_stop_sequences(body.get("stop_sequences"), "stop_sequences"),
            cached_prompt=None if counting else cached_prompt(body, messages, tools),
        )

    def reply(self, plan: Plan, body: JSONObject) -> Reply:
        context = ReplyContext(as_str(body.get("model")), new_id("msg_"))
        headers = {"request-id": new_id("req_")}
        if body.get("stream") is True:
            return Reply(frames=_events(plan, context), headers=headers)
        message = _message(plan, context, _content(plan), _stop_reason(plan))
        return Reply(body=encode(message), headers=headers, media_type="application/json")

    def error(
        self,
        status: int,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Response:
        del code  # OpenAI's alone
        return anthropic_error(status, message, param)


def _thinks(thinking: object, max_tokens: int | None, *, counting: bool) -> bool:
    """Whether the request turns thinking on, checked as the API does: an `enabled`
    budget of at least 1024 tokens and below max_tokens; `adaptive` lets the model decide
    (here: it thinks). Absent or `disabled`: no thinking."""
    if thinking is None:
        return False
    config = as_object(thinking)
    kind = config.get("type")
    if kind == "adaptive":
        return True
    if kind == "disabled":
        return False
    if kind != "enabled":
        raise RequestError(
            400,
            f"thinking.type: Input should be 'enabled', 'disabled' or 'adaptive', got {kind!r}",
            "thinking.type",
        )
    budget = config.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < _MIN_BUDGET:
        raise RequestError(
            400,
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{_MIN_BUDGET}",
            "thinking.budget_tokens",
        )
    if not counting and max_tokens is not None and max_tokens <= budget:
        raise RequestError(
            400,
            "`max_tokens` must be greater than `thinking.budget_tokens`",
            "max_tokens",
        )
    return True


def _messages(body: JSONObject) -> list[tuple[str, list[JSONObject]]]:
    """(role, blocks) per message; a string content is one text block."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages: a non-empty array is required", "messages")
    result = []
    for i, message in enumerate(map(as_object, messages)):
        content, role = message.get("content"), as_str(message.get("role"))
        final_assistant = role == "assistant" and i == len(messages) - 1
        if content in ("", []) and not final_assistant:
            raise RequestError(
                400,
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message",
                f"messages.{i}",
            )
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content else []
        else:
            blocks = [as_object(block) for block in as_list(content)]
            _refuse_invalid_blocks(blocks)
        result.append((role, blocks))
    _refuse_unpaired_tools(result)
    return result


def _refuse_unpaired_tools(messages: list[tuple[str, list[JSONObject]]]) -> None:
    """As the API: every `tool_use` of an assistant turn has its `tool_result` in the next
    message, and every `tool_result` answers a `tool_use` of the turn before."""
    asked: set[str] = set()
    for i, (role, blocks) in enumerate(messages):
        answered = {as_str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"}
        if answered - asked:
            ids = ", ".join(sorted(answered - asked))
            raise RequestError(
                400,
                f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {ids}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message.",
            )
        if asked - answered:
            ids = ", ".join(sorted(asked - answered))
            raise RequestError(
                400,
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {ids}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message.",
            )
        asked = {as_str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
        asked = asked if role == "assistant" and i < len(messages) - 1 else set()


def _refuse_tool_loop_without_thinking(messages: list[tuple[str, list[JSONObject]]]) -> None:
    """As the API with thinking on: when tool results answer the last assistant message,
    that message starts with its thinking (a client has to send it back unmodified)."""
    last = len(messages) - 1
    if last < 1 or not any(b.get("type") == "tool_result" for b in messages[last][1]):
        return
    role, blocks = messages[last - 1]
    if role != "assistant" or not any(b.get("type") == "tool_use" for b in blocks):
        return
    first = as_str(blocks[0].get("type")) if blocks else ""
    if first not in ("thinking", "redacted_thinking"):
        raise RequestError(
            400,
            f"messages.{last - 1}.content.0.type: Expected `thinking` or `redacted_thinking`,"
            f" but found `{first}`. When `thinking` is enabled, a final `assistant` message"
            " must start with a thinking block (preceeding the lastmost set of `tool_use` and"
            " `tool_result` blocks). We recommend you include thinking blocks from previous"
            " turns. To avoid this requirement, disable `thinking`.",
        )


def _refuse_invalid_blocks(blocks: list[JSONObject]) -> None:
    """As the API: an empty text block, even inside a tool result, is a 400, and so is a
    text document source without its media_type."""
    for block in blocks:
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            _refuse_invalid_blocks([as_object(item) for item in as_list(block.get("content"))])
        elif block.get("type") == "text" and not block.get("text"):
            raise RequestError(400, "messages: text content blocks must be non-empty", "messages")
        elif block.get("type") == "document":
            source = as_object(block.get("source"))
            if source.get("type") == "text" and source.get("media_type") != "text/plain":
                raise RequestError(
                    400, "messages: a text document source needs media_type text/plain", "messages"
                )


def _trailing_tool_results(
    messages: list[tuple[str, list[JSONObject]]],
    local_names: dict[str, str],
    call_names: BoundedMemory,
) -> list[ToolResult]:
    last = next((item for item in reversed(messages) if item[0] != "system"), None)
    if last is None or last[0] != "user":
        return []
    return [
        ToolResult(
            resolve_tool_name(as_str(block.get("tool_use_id")), local_names, call_names),
            collapse(parts_text(block.get("content"))),
        )
        for block in last[1]
        if block.get("type") == "tool_result"
    ]


def _stop_reason(plan: Plan) -> str:
    return "pause_turn" if plan.paused else STOP_REASON[plan.finish]


def _signature(plan: Plan) -> str:
    return f"emu-sig-{signature_hex(plan.thinking)}"


def _tool_use(call: ToolCall, arguments: JSONObject) -> JSONObject:
    return {"type": "tool_use", "id": f"toolu_{call.token}", "name": call.name, "input": arguments}


def _content(plan: Plan) -> list[JSONObject]:
    content: list[JSONObject] = []
    if plan.thinking:
        content.append(
            {"type": "thinking", "thinking": plan.thinking, "signature": _signature(plan)}
        )
    searches = search_blocks(plan)
    for use, result in searches:
        content += [use, result]
    if plan.text:
        text: JSONObject = {"type": "text", "text": plan.text}
        cited = citation(searches)
        if cited is not None:
            text["citations"] = [cited]
        content.append(text)
    content += [_tool_use(call, call.arguments) for call in plan.tool_calls]
    return content


def _message(
    plan: Plan, context: ReplyContext, content: list[JSONObject], stop_reason: str | None
) -> JSONObject:
    return {
        "id": context.response_id,
        "type": "message",
        "role": "assistant",
        "model": context.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": plan.stop_sequence if stop_reason else None,
        "usage": anthropic_usage(plan),
    }


def _event(kind: str, payload: JSONObject) -> bytes:
    return encode_event(encode({"type": kind, **payload}), kind)


def _block_events(index: int, start: JSONObject, deltas: Iterator[JSONObject]) -> Iterator[Frame]:
    yield _event("content_block_start", {"index": index, "content_block": start}), False
    for delta in deltas:
        yield _event("content_block_delta", {"index": index, "delta": delta}), True
    yield _event("content_block_stop", {"index": index}), False


def _events(plan: Plan, context: ReplyContext) -> Iterator[Frame]:
    start = _message(plan, context, [], None)
    # As Anthropic's: message_start carries no final counts (server tool use included).
    start["usage"] = {**start["usage"], "output_tokens": 1}
    start["usage"].pop("server_tool_use", None)
    yield _event("message_start", {"message": start}), False
    yield _event("ping", {}), False
    index = 0
    if plan.thinking:
        yield from _block_events(
            index, {"type": "thinking", "thinking": "", "signature": ""}, _thinking_deltas(plan)
        )
        index += 1
    searches = search_blocks(plan)
    for use, result in searches:
        query = use["input"]
        yield from _block_events(index, {**use, "input": {}}, _json_deltas(json_text(query)))
        yield from _block_events(index + 1, result, iter(()))
        index += 2
    if plan.text:
        cited = citation(searches)
        cites = [{"type": "citations_delta", "citation": cited}] if cited else []
        words = [{"type": "text_delta", "text": word} for word in plan.chunks]
        yield from _block_events(index, {"type": "text", "text": ""}, iter(cites + words))
        index += 1
    for call in plan.tool_calls:
        yield from _block_events(index, _tool_use(call, {}), _input_json_deltas(call))
        index += 1
    stop = {"stop_reason": _stop_reason(plan), "stop_sequence": plan.stop_sequence}
    # MessageDeltaUsage has no service_tier nor cache_creation: the Message's usage only.
    delta_usage = {k: v for k, v in anthropic_usage(plan).items() if k not in _START_ONLY_USAGE}
    yield _event("message_delta", {"delta": stop, "usage": delta_usage}), False
    yield _event("message_stop", {}), False


def _thinking_deltas(plan: Plan) -> Iterator[JSONObject]:
    for word in plan.thinking_chunks:
        yield {"type": "thinking_delta", "thinking": word}
    yield {"type": "signature_delta", "signature": _signature(plan)}


def _input_json_deltas(call: ToolCall) -> Iterator[JSONObject]:
    return _json_deltas(call.arguments_json)


def _json_deltas(arguments: str) -> Iterator[JSONObject]:
    middle = max(len(arguments) // 2, 1)
    for part in ("", arguments[:middle], arguments[middle:]):
        yield {"type": "input_json_delta", "partial_json": part}
