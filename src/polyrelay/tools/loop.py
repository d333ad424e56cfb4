"""The server-tool loop: the gateway runs a server tool (web search) for an upstream that
cannot, between calls to the model.

Theory of operation. `prepare_request` swaps the request's server tool for the function tool
the model is shown, and rewrites earlier turns' server tool blocks into ordinary calls and
results the model can read. Then each round calls the model once:

- no call to the server tool: the round's answer is the last one; its text parts get the
  citations of every result seen so far;
- calls to the server tool: each becomes a `ServerToolCallPart` + `ServerToolResultPart` pair
  for the client, runs (concurrently, in call order), and its feedback goes back to the model
  as a tool result for the next round;
- a call to a client tool in the same round ends the loop: the client gets its tool call
  (stop reason `tool_use`), the searches of that round included.

At most `tool.max_rounds` rounds (web search: max_uses + 2); when the last one still
asks for searches, the answer stops with `pause_turn`, as Anthropic's does. Usage is summed
over the rounds, plus the searches run; when a round fails, its error carries the usage of
the rounds before it (GatewayError.usage), which the request's usage row records (and a
run cancelled between rounds has them from pipeline/calls.py, told of each as it answers).

Streaming (`stream_with_tool`) keeps to the IR grammar across rounds: one MessageStart (the
first round's), part indexes renumbered 0, 1, 2... over every round, one MessageStop at the
end, and a UsageDelta (the usage so far) after each round that another follows as well as
at the end, so a stream that a later round fails, or that the client leaves, still counts
the rounds before. A server tool call is shown as soon as the model's call is complete
and its result as soon as the search is done, before the next part starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from polyrelay.errors import GatewayError, InvalidRequestError
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    Part,
    Role,
    ServerToolCallPart,
    ServerToolResultPart,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    Usage,
)
from polyrelay.tools import ServerTool

__all__ = [
    "cite",
    "client_calls",
    "complete_with_tool",
    "follow_up",
    "prepare_request",
    "search_calls",
    "with_searches",
]

_GONE = "The results of this earlier search are no longer available."

Call = Callable[[ChatRequest], Awaitable[ChatResponse]]
Pairs = list[tuple[ToolCallPart, ServerToolResultPart]]


def prepare_request(request: ChatRequest, tool: ServerTool) -> ChatRequest:
    """The request the model gets: the server tool as a function tool, history rewritten."""
    if any(t.name == tool.name for t in request.tools):
        raise InvalidRequestError(
            f"tools: a tool named {tool.name!r} is declared twice (the web search tool "
            "has that name too)",
            param="tools",
        )
    return msgspec.structs.replace(
        request,
        web_search=None,
        tools=(*request.tools, tool.declaration()),
        messages=tuple(m for msg in request.messages for m in _rewrite(msg, tool)),
    )


def _rewrite(message: Message, tool: ServerTool) -> list[Message]:
    """An assistant message with server tool blocks → calls and tool results the model reads.
    A call without a result in the message (e.g. a Responses `web_search_call` item) is
    answered with a note that its results are gone."""
    if message.role is not Role.ASSISTANT or not any(
        isinstance(p, ServerToolCallPart | ServerToolResultPart) for p in message.parts
    ):
        return [message]
    results = {p.tool_call_id: p for p in message.parts if isinstance(p, ServerToolResultPart)}
    out: list[Message] = []
    pending: list[Part] = []
    for part in message.parts:
        if isinstance(part, ServerToolResultPart):
            continue
        if not isinstance(part, ServerToolCallPart):
            pending.append(part)
            continue
        call = ToolCallPart(id=part.id, name=tool.name, arguments=part.arguments or "{}")
        out.append(Message(role=Role.ASSISTANT, parts=(*pending, call)))
        pending = []
        found = results.get(part.id)
        text = tool.feedback(found) if found is not None else _GONE
        out.append(_tool_message([(call, text)], tool.name))
    if pending:
        out.append(Message(role=Role.ASSISTANT, parts=tuple(pending)))
    return out


def _tool_message(answers: Sequence[tuple[ToolCallPart, str]], name: str) -> Message:
    parts = tuple(
        ToolResultPart(tool_call_id=call.id, content=(TextPart(text=text),), name=name)
        for call, text in answers
    )
    return Message(role=Role.TOOL, parts=parts)


def follow_up(
    request: ChatRequest, assistant: tuple[Part, ...], pairs: Pairs, tool: ServerTool
) -> ChatRequest:
    """The next round's request: the model's turn and the searches' feedback appended."""
    answers = [(call, tool.feedback(result)) for call, result in pairs]
    messages = (
        *request.messages,
        Message(role=Role.ASSISTANT, parts=assistant),
        _tool_message(answers, tool.name),
    )
    return msgspec.structs.replace(request, messages=messages, tool_choice=_relaxed(request))


def _relaxed(request: ChatRequest) -> ToolChoice | None:
    # A forced search (or "any tool") was satisfied by the first round's search.
    choice = request.tool_choice
    if choice is not None and choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.NAMED):
        return ToolChoice(mode=ToolChoiceMode.AUTO)
    return choice


def search_calls(parts: Sequence[Part], tool: ServerTool) -> list[ToolCallPart]:
    return [p for p in parts if isinstance(p, ToolCallPart) and p.name == tool.name]


def client_calls(parts: Sequence[Part], tool: ServerTool) -> bool:
    return any(isinstance(p, ToolCallPart) and p.name != tool.name for p in parts)


def cite(part: Part, tool: ServerTool, results: Sequence[ServerToolResultPart]) -> Part:
    if not isinstance(part, TextPart) or not results:
        return part
    found = tool.citations(part.text, results)
    return msgspec.structs.replace(part, citations=part.citations + found) if found else part


def with_searches(usage: Usage, tool: ServerTool) -> Usage:
    return msgspec.structs.replace(
        usage, web_search_requests=usage.web_search_requests + tool.requests
    )


async def complete_with_tool(call: Call, request: ChatRequest, tool: ServerTool) -> ChatResponse:
    """Run the loop for a non-streamed answer; `request` comes from `prepare_request`."""
    out: list[Part] = []
    results: list[ServerToolResultPart] = []
    usage = Usage()
    response: ChatResponse | None = None
    for _ in range(tool.max_rounds):
        try:
            response = await call(request)
        except GatewayError as error:  # the rounds before it were billed all the same
            error.add_usage(with_searches(usage, tool))
            raise
        usage = usage + response.usage
        calls = search_calls(response.parts, tool)
        if not calls:
            out += [cite(p, tool, results) for p in response.parts]
            return _final(response, out, with_searches(usage, tool), response.stop_reason)
        servers = [tool.server_call(c) for c in calls]
        done = list(await asyncio.gather(*(tool.run(s) for s in servers)))
        results += done
        by_call = {id(c): (s, r) for c, s, r in zip(calls, servers, done, strict=True)}
        for part in response.parts:
            pair = by_call.get(id(part))
            out += [*pair] if pair is not None else [cite(part, tool, results)]
        if client_calls(response.parts, tool):
            return _final(response, out, with_searches(usage, tool), StopReason.TOOL_USE)
        request = follow_up(request, response.parts, list(zip(calls, done, strict=True)), tool)
    assert response is not None
    return _final(response, out, with_searches(usage, tool), StopReason.PAUSE_TURN)


def _final(
    response: ChatResponse, parts: list[Part], usage: Usage, stop: StopReason
) -> ChatResponse:
    sequence = response.stop_sequence if stop is response.stop_reason else None
    return msgspec.structs.replace(
        response, parts=tuple(parts), usage=usage, stop_reason=stop, stop_sequence=sequence
    )
