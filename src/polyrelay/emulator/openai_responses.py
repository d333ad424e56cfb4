"""OpenAI Responses: `POST /v1/responses`, plain and as the typed event stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.dialect import Reply, ReplyContext, resolve_tool_name
from polyrelay.emulator.errors import openai_error
from polyrelay.emulator.logprobs import entries, responses_top_logprobs
from polyrelay.emulator.openai_responses_checks import refuse_shapes
from polyrelay.emulator.prompt_cache import openai_prompt
from polyrelay.emulator.script import (
    Conversation,
    Finish,
    Plan,
    ToolCall,
    ToolResult,
    read_limit,
    signature_hex,
)
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame
from polyrelay.emulator.structured import schema_of
from polyrelay.emulator.tool_choice import responses_tool_choice
from polyrelay.emulator.tool_names import refuse_openai_names
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

__all__ = ["ResponsesDialect"]

_SYSTEM_ROLES = frozenset({"system", "developer"})


class ResponsesDialect:
    def conversation(self, body: JSONObject, call_names: BoundedMemory) -> Conversation:
        raw_input = body.get("input")
        items = (
            [{"role": "user", "content": raw_input}]
            if isinstance(raw_input, str)
            else [as_object(item) for item in as_list(raw_input)]
        )
        texts = [as_str(body.get("instructions"))]
        local_names: dict[str, str] = {}
        user_text = ""
        for item in items:
            kind = item.get("type", "message")
            texts.append(_item_text(item))
            if kind == "message" and item.get("role") == "user":
                user_text = texts[-1]
            elif kind in _CALLS:
                local_names[as_str(item.get("call_id"))] = as_str(item.get("name"))
        tools = _declared_tools(body)
        refuse_openai_names(_named_tools(body))
        refuse_shapes(body)
        # Tool definitions go before the conversation in the prompt, so in the cache's order.
        texts = [as_str(tool.get("description")) for tool in tools] + texts
        words = sum(map(count_words, texts))
        model, retention = as_str(body.get("model")), body.get("prompt_cache_retention")
        responses_top_logprobs(body)  # refused here, before any answer, when invalid
        schemas = {
            as_str(tool.get("name")): as_object(tool.get("parameters"))
            for tool in tools
            if tool.get("name")
        }
        return Conversation(
            user_text=user_text,
            tool_results=_trailing_tool_results(items, local_names, call_names),
            tool_names=set(schemas),
            tool_schemas=schemas,
            tool_choice=responses_tool_choice(body, schemas),
            input_tokens=words,
            max_tokens=read_limit(body.get("max_output_tokens"), "max_output_tokens"),
            output_schema=schema_of(as_object(body.get("text")).get("format")),
            cached_prompt=openai_prompt(model, texts, words, retention),
        )

    def reply(self, plan: Plan, body: JSONObject) -> Reply:
        writer = _ResponseWriter(plan, body)
        headers = {"x-request-id": new_id("req_")}
        if body.get("stream") is True:
            return Reply(frames=writer.events(), headers=headers)
        return Reply(body=encode(writer.final()), headers=headers, media_type="application/json")

    def error(
        self,
        status: int,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Response:
        return openai_error(status, message, param, code)


_CALLS = frozenset({"function_call", "custom_tool_call"})
_CALL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})


def _named_tools(body: JSONObject) -> list[tuple[str, str]]:
    """The function and custom tools' names (a namespace's members' too), by field."""
    named = []
    for i, tool in enumerate(map(as_object, as_list(body.get("tools")))):
        if tool.get("type") in ("function", "custom"):
            named.append((f"tools[{i}].name", as_str(tool.get("name"))))
        elif tool.get("type") == "namespace":
            members = enumerate(map(as_object, as_list(tool.get("tools"))))
            named += [(f"tools[{i}].tools[{j}].name", as_str(m.get("name"))) for j, m in members]
    return named


def _declared_tools(body: JSONObject) -> list[JSONObject]:
    """The tools the model may call: a namespace's members stand for themselves (OpenAI
    calls one with its own name and the namespace beside it)."""
    tools: list[JSONObject] = []
    for tool in map(as_object, as_list(body.get("tools"))):
        if tool.get("type") == "namespace":
            tools += [as_object(member) for member in as_list(tool.get("tools"))]
        else:
            tools.append(tool)
    return tools


def _kinds_of_tools(body: JSONObject) -> tuple[set[str], dict[str, str]]:
    """The custom tools' names, and each namespace member's namespace."""
    custom: set[str] = set()
    namespaces: dict[str, str] = {}
    for tool in map(as_object, as_list(body.get("tools"))):
        if tool.get("type") == "custom":
            custom.add(as_str(tool.get("name")))
        elif tool.get("type") == "namespace":
            for member in map(as_object, as_list(tool.get("tools"))):
                namespaces[as_str(member.get("name"))] = as_str(tool.get("name"))
    return custom, namespaces


def _item_text(item: JSONObject) -> str:
    kind = item.get("type", "message")
    if kind == "function_call":
        return as_str(item.get("arguments"))
    if kind == "custom_tool_call":
        return as_str(item.get("input"))
    if kind in _CALL_OUTPUTS:
        return _output_text(item.get("output"))
    if kind == "reasoning":
        return parts_text(item.get("summary"))
    return parts_text(item.get("content"))


def _output_text(output: object) -> str:
    return parts_text(output) if isinstance(output, list) else json_text(output)


def _trailing_tool_results(
    items: list[JSONObject], local_names: dict[str, str], call_names: BoundedMemory
) -> list[ToolResult]:
    results: list[ToolResult] = []
    for item in reversed(items):
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in _SYSTEM_ROLES:
            continue
        if kind not in _CALL_OUTPUTS:
            break
        name = resolve_tool_name(as_str(item.get("call_id")), local_names, call_names)
        results.append(ToolResult(name, collapse(_output_text(item.get("output")))))
    results.reverse()
    return results


class _ResponseWriter:
    """Builds the response object and its event stream; both share the same ids."""

    def __init__(self, plan: Plan, body: JSONObject) -> None:
        self.plan = plan
        self.body = body
        self.context = ReplyContext(as_str(body.get("model")), new_id("resp_"))
        self.message_id = new_id("msg_")
        self.reasoning_id = new_id("rs_")
        self.incomplete = plan.finish is Finish.LENGTH
        self.sequence_number = 0
        self.custom, self.namespaces = _kinds_of_tools(body)
        self.top = responses_top_logprobs(body)

    def final(self) -> JSONObject:
        status = "incomplete" if self.incomplete else "completed"
        response = self._response(status, self._output())
        response["usage"] = self._usage()
        if self.incomplete:
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            response["completed_at"] = int(time.time())
        return response

    def _response(self, status: str, output: list[JSONObject]) -> JSONObject:
        body = self.body
        return {
            "id": self.context.response_id,
            "object": "response",
            "created_at": self.context.created,
            "status": status,
            "model": self.context.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": as_list(body.get("tools")),
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "previous_response_id": body.get("previous_response_id"),
            "store": body.get("store", True),
            "truncation": body.get("truncation", "disabled"),
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "max_output_tokens": body.get("max_output_tokens"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "text": body.get("text") or {"format": {"type": "text"}},
            "usage": None,
            "metadata": body.get("metadata") or {},
        }

    def _usage(self) -> JSONObject:
        plan = self.plan
        return {
            "input_tokens": plan.input_tokens,
            "input_tokens_details": {"cached_tokens": plan.cache.read, "cache_write_tokens": 0},
            "output_tokens": plan.output_tokens,
            "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
            "total_tokens": plan.input_tokens + plan.output_tokens,
        }

    def _output(self) -> list[JSONObject]:
        output: list[JSONObject] = []
        if self.plan.thinking:
            output.append(self._reasoning_item(self.plan.thinking))
        if self._has_message():
            output.append(self._message_item(self.plan.text, done=True))
        output += [self._call(call, done=True) for call in self.plan.tool_calls]
        return output

    def _has_message(self) -> bool:
        return bool(self.plan.text) or not self.plan.tool_calls

    def _reasoning_item(self, summary: str | None) -> JSONObject:
        item: JSONObject = {"id": self.reasoning_id, "type": "reasoning", "summary": []}
        if summary is not None:
            item["summary"] = [{"type": "summary_text", "text": summary}]
            item["encrypted_content"] = f"emu-enc-{signature_hex(summary)}"
        return item

    def _content_part(self, text: str, chunks: list[str]) -> JSONObject:
        if self.plan.refused:
            return {"type": "refusal", "refusal": text}
        part = _text_part(text)
        if self.top is not None:
            part["logprobs"] = entries(chunks, self.top)
        return part

    def _event_logprobs(self, chunks: list[str]) -> list[JSONObject]:
        """A text event's `logprobs` (always present, `[]` when not asked for)."""
        return [] if self.top is None else entries(chunks, self.top, with_bytes=False)

    def _message_item(self, text: str, *, done: bool) -> JSONObject:
        status = ("incomplete" if self.incomplete else "completed") if done else "in_progress"
        content = [self._content_part(text, self.plan.chunks)] if done else []
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _call(self, call: ToolCall, *, done: bool) -> JSONObject:
        """A function_call item, or a custom_tool_call for a custom tool (its input a
        string: the `input` argument of the script's call, else all its arguments)."""
        item: JSONObject = {"id": f"fc_{call.token}", "type": "function_call"}
        item["status"] = "completed" if done else "in_progress"
        item |= {"call_id": f"call_{call.token}", "name": call.name}
        if call.name in self.custom:
            item |= {"id": f"ctc_{call.token}", "type": "custom_tool_call"}
            item["input"] = _custom_input(call) if done else ""
            return item
        if call.name in self.namespaces:
            item["namespace"] = self.namespaces[call.name]
        item["arguments"] = call.arguments_json if done else ""
        return item

    def _event(self, kind: str, payload: JSONObject) -> bytes:
        data = encode({"type": kind, "sequence_number": self.sequence_number, **payload})
        self.sequence_number += 1
        return encode_event(data, kind)

    def events(self) -> Iterator[Frame]:
        snapshot = self._response("in_progress", [])
        yield self._event("response.created", {"response": snapshot}), False
        yield self._event("response.in_progress", {"response": snapshot}), False
        output_index = 0
        if self.plan.thinking:
            yield from self._reasoning_events(output_index)
            output_index += 1
        if self._has_message():
            yield from self._message_events(output_index)
            output_index += 1
        for call in self.plan.tool_calls:
            yield from self._function_call_events(output_index, call)
            output_index += 1
        final = self.final()
        kind = "response.incomplete" if self.incomplete else "response.completed"
        yield self._event(kind, {"response": final}), False

    def _reasoning_events(self, output_index: int) -> Iterator[Frame]:
        text = self.plan.thinking
        where = {"item_id": self.reasoning_id, "output_index": output_index, "summary_index": 0}
        yield self._item_added(output_index, self._reasoning_item(None))
        yield (
            self._event(
                "response.reasoning_summary_part.added",
                {**where, "part": {"type": "summary_text", "text": ""}},
            ),
            False,
        )
        for word in self.plan.thinking_chunks:
            yield (
                self._event("response.reasoning_summary_text.delta", {**where, "delta": word}),
                True,
            )
        yield self._event("response.reasoning_summary_text.done", {**where, "text": text}), False
        yield (
            self._event(
                "response.reasoning_summary_part.done",
                {**where, "part": {"type": "summary_text", "text": text}},
            ),
            False,
        )
        yield self._item_done(output_index, self._reasoning_item(text))

    def _message_events(self, output_index: int) -> Iterator[Frame]:
        text = self.plan.text
        where = {"item_id": self.message_id, "output_index": output_index, "content_index": 0}
        yield self._item_added(output_index, self._message_item("", done=False))
        added = {**where, "part": self._content_part("", [])}
        yield self._event("response.content_part.added", added), False
        if self.plan.refused:
            for word in self.plan.chunks:
                yield self._event("response.refusal.delta", {**where, "delta": word}), True
            yield self._event("response.refusal.done", {**where, "refusal": text}), False
        else:
            for word in self.plan.chunks:
                delta = {**where, "delta": word, "logprobs": self._event_logprobs([word])}
                yield self._event("response.output_text.delta", delta), True
            done = {**where, "text": text, "logprobs": self._event_logprobs(self.plan.chunks)}
            yield self._event("response.output_text.done", done), False
        part = {**where, "part": self._content_part(text, self.plan.chunks)}
        yield self._event("response.content_part.done", part), False
        yield self._item_done(output_index, self._message_item(text, done=True))

    def _function_call_events(self, output_index: int, call: ToolCall) -> Iterator[Frame]:
        added = self._call(call, done=False)
        where = {"item_id": added["id"], "output_index": output_index}
        yield self._item_added(output_index, added)
        custom = added["type"] == "custom_tool_call"
        arguments = _custom_input(call) if custom else call.arguments_json
        kind = "response.custom_tool_call_input" if custom else "response.function_call_arguments"
        middle = max(len(arguments) // 2, 1)
        for part in (arguments[:middle], arguments[middle:]):
            yield self._event(f"{kind}.delta", {**where, "delta": part}), True
        done = {"input": arguments} if custom else {"arguments": arguments, "name": call.name}
        yield self._event(f"{kind}.done", {**where, **done}), False
        yield self._item_done(output_index, self._call(call, done=True))

    def _item_added(self, output_index: int, item: JSONObject) -> Frame:
        return self._event(
            "response.output_item.added", {"output_index": output_index, "item": item}
        ), False

    def _item_done(self, output_index: int, item: JSONObject) -> Frame:
        return self._event(
            "response.output_item.done", {"output_index": output_index, "item": item}
        ), False


def _custom_input(call: ToolCall) -> str:
    value = call.arguments.get("input")
    return value if isinstance(value, str) else call.arguments_json


def _text_part(text: str) -> JSONObject:
    return {"type": "output_text", "text": text, "annotations": []}
