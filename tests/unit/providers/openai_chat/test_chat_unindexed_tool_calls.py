"""Streamed tool-call deltas without `index` (Gemini's OpenAI-compatible endpoint, older
Ollama, mistral.rs, SGLang): the index is inferred as clients do. The shapes not covered
end to end by tests/integration/test_bent_tool_calls.py."""

from __future__ import annotations

import json

from polyrelay.context import RequestContext
from polyrelay.ir import ChatResponse, StreamAccumulator, ToolCallPart
from polyrelay.providers.openai_chat import OpenAIChatStreamParser

HEAD = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _chunk(*calls: object, finish: str | None = None) -> bytes:
    delta = {"tool_calls": list(calls)} if calls else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({**HEAD, "choices": [choice]}).encode() + b"\n\n"


def _calls(*chunks: bytes) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of the calls the chunks fold into."""
    parser = OpenAIChatStreamParser(RequestContext())
    data = b"".join(chunks) + _chunk(finish="tool_calls") + b"data: [DONE]\n\n"
    acc = StreamAccumulator()
    for event in parser.feed(data) + parser.finish():
        acc.feed(event)
    response: ChatResponse = acc.result()
    return [(p.id, p.name, p.arguments) for p in response.parts if isinstance(p, ToolCallPart)]


def _call(call_id: str | None, name: str | None, arguments: str) -> dict[str, object]:
    function: dict[str, object] = {"arguments": arguments}
    if name:
        function["name"] = name
    return {"id": call_id, "function": function} if call_id else {"function": function}


def test_an_id_repeated_on_every_fragment_is_one_call() -> None:
    calls = _calls(
        _chunk(_call("call_a", "f", '{"a"')),
        _chunk(_call("call_a", None, ": 1}")),
        _chunk(_call("call_b", "g", "{}")),
        _chunk(_call("call_b", None, "")),
    )
    assert calls == [("call_a", "f", '{"a": 1}'), ("call_b", "g", "{}")]


def test_a_call_with_no_id_at_all_gets_one() -> None:
    [(call_id, name, arguments)] = _calls(
        _chunk(_call(None, "f", '{"a"')), _chunk(_call(None, None, ": 1}"))
    )
    assert (name, arguments) == ("f", '{"a": 1}')
    assert call_id.startswith("call_")


def test_an_indexed_stream_is_read_by_its_indexes() -> None:
    first, second = (
        {**_call("call_a", "f", "{"), "index": 0},
        {**_call("call_b", "g", "{"), "index": 1},
    )
    calls = _calls(
        _chunk(first, second),
        _chunk({**_call(None, None, "}"), "index": 1}),
        _chunk({**_call(None, None, "}"), "index": 0}),
    )
    assert calls == [("call_a", "f", "{}"), ("call_b", "g", "{}")]
