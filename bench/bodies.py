"""Fixed upstream bodies, client request bodies and the checks every benchmark response passes.

The upstream (nginx) serves one fixed body per upstream protocol, streamed and not. Each body
says the same reply, `REPLY_TEXT`, whose last word `END_MARKER` appears intact in every
client-side response (streams carry one word per chunk), so a response that lacks it is an
error. The streams are rendered as the official SDKs expect (shared/protocols/*.md):
Chat chunks end with a usage chunk and `data: [DONE]`; Anthropic events carry `event:` lines
and end with `message_stop`; Responses events number `sequence_number` from 0 and end with
`response.completed`. tests/unit/bench/ parses every body with the SDKs' own types.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "CLIENT_PROTOCOLS",
    "END_MARKER",
    "REAL_CLIENTS",
    "REPLY_TEXT",
    "REPLY_WORDS",
    "UPSTREAM_PROTOCOLS",
    "check_response",
    "client_request",
    "markers",
    "path_alias",
    "path_request",
    "upstream_body",
]

END_MARKER = "polyrelay-bench-end"
REPLY_WORDS: tuple[str, ...] = (
    *"Fixed benchmark reply from the upstream: every word of it arrives in a chunk".split(),
    *"of its own so that each stream the gateway relays has well over twenty".split(),
    "chunks",
    END_MARKER,
)
REPLY_TEXT = " ".join(REPLY_WORDS)
PROMPT = "Say the fixed benchmark sentence."
CREATED = 1767225600
INPUT_TOKENS = 5
OUTPUT_TOKENS = len(REPLY_WORDS)

UPSTREAM_PROTOCOLS = ("openai", "anthropic", "openai-responses")
CLIENT_PROTOCOLS = ("chat", "messages", "responses")
CLIENT_PATHS = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
}


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _deltas() -> Iterator[str]:
    for i, word in enumerate(REPLY_WORDS):
        yield word if i == 0 else " " + word


# -- OpenAI Chat Completions ---------------------------------------------------------------


def _chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gpt-bench",
        "choices": [choice],
    }


def _chat_usage() -> dict[str, int]:
    total = INPUT_TOKENS + OUTPUT_TOKENS
    return {
        "prompt_tokens": INPUT_TOKENS,
        "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": total,
    }


def openai_chat_json() -> str:
    message = {"role": "assistant", "content": REPLY_TEXT, "refusal": None, "annotations": []}
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": "gpt-bench",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": _chat_usage(),
        }
    )


def openai_chat_sse() -> str:
    chunks = [_chat_chunk({"role": "assistant", "content": ""})]
    chunks += [_chat_chunk({"content": d}) for d in _deltas()]
    chunks.append(_chat_chunk({}, "stop"))
    chunks.append({**_chat_chunk({}), "choices": [], "usage": _chat_usage()})
    return "".join(f"data: {_dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


# -- Anthropic Messages --------------------------------------------------------------------


def _anthropic_message(content: list[dict[str, Any]], stop: str | None, out: int) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": INPUT_TOKENS,
            "output_tokens": out,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def anthropic_json() -> str:
    text = [{"type": "text", "text": REPLY_TEXT}]
    return _dumps(_anthropic_message(text, "end_turn", OUTPUT_TOKENS))


def anthropic_sse() -> str:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": _anthropic_message([], None, 1)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}
        for d in _deltas()
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": OUTPUT_TOKENS},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {_dumps(e)}\n\n" for e in events)


# -- OpenAI Responses ----------------------------------------------------------------------


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _message_item(status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _response(status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_bench",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": "gpt-bench",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "usage": None,
        "metadata": {},
    }
    if usage:
        body["usage"] = {
            "input_tokens": INPUT_TOKENS,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": OUTPUT_TOKENS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        }
    return body


def responses_json() -> str:
    item = _message_item("completed", [_output_text(REPLY_TEXT)])
    return _dumps(_response("completed", [item], usage=True))


def responses_sse() -> str:
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    done_item = _message_item("completed", [_output_text(REPLY_TEXT)])
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response("in_progress", [], usage=False)},
        {"type": "response.in_progress", "response": _response("in_progress", [], usage=False)},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _message_item("in_progress", []),
        },
        {"type": "response.content_part.added", **where, "part": _output_text("")},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": d, "logprobs": []}
        for d in _deltas()
    ]
    events += [
        {"type": "response.output_text.done", **where, "text": REPLY_TEXT, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _output_text(REPLY_TEXT)},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": _response("completed", [done_item], True)},
    ]
    frames = []
    for seq, event in enumerate(events):
        event = {"type": event["type"], "sequence_number": seq, **event}
        frames.append(f"event: {event['type']}\ndata: {_dumps(event)}\n\n")
    return "".join(frames)


_UPSTREAM = {
    ("openai", False): openai_chat_json,
    ("openai", True): openai_chat_sse,
    ("anthropic", False): anthropic_json,
    ("anthropic", True): anthropic_sse,
    ("openai-responses", False): responses_json,
    ("openai-responses", True): responses_sse,
}


def upstream_body(protocol: str, stream: bool) -> str:
    """The fixed body nginx serves for an upstream protocol (`openai` = Chat Completions)."""
    return _UPSTREAM[protocol, stream]()


# -- client side ---------------------------------------------------------------------------


UNSTORED = " (no store)"
"""The suffix of a Responses path whose requests say `"store": false`: the same path
without the stored response that `store` (true by default) costs on every request."""


def path_alias(path: str) -> str:
    """A path's name as typed on the command line and in file names:
    `responses-openai-nostore` for `responses→openai (no store)`."""
    return path.replace("→", "-").replace(UNSTORED, "-nostore")


REAL_CLIENTS = {
    "claude-code": "clients/anthropic/claude_code_tool_result_turn.json",
    "codex": "clients/codex/codex_responses_function_call_output_turn.json",
}
"""Requests real clients sent (tests/fixtures), for the paths named after the client
(`--real-bodies`): a Claude Code turn is 78 KB (24 tools, 63 KB of JSON schemas, and a
system prompt), a Codex turn 40 KB, where the other paths send 80 bytes. The Codex turn
goes without its `web_search` tool, which the gateway runs itself on every upstream but
Anthropic's (docs/web_search.md): with it, no Codex request takes the fast path."""
_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def path_request(path: str, protocol: str, model: str, stream: bool) -> bytes:
    """`client_request` for a benchmark path (a path named with UNSTORED sends no store),
    or a real client's request for a path named after one."""
    client = path.split("→")[0]
    if client in REAL_CLIENTS:
        return _dumps({**_real_body(client), "model": model, "stream": stream}).encode()
    return client_request(protocol, model, stream, store=not path.endswith(UNSTORED))


@functools.cache
def _real_body(client: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((_FIXTURES / REAL_CLIENTS[client]).read_text())["body"]
    tools = body.get("tools") or []
    return {**body, "tools": [t for t in tools if t.get("type") != "web_search"]}


def client_request(protocol: str, model: str, stream: bool, *, store: bool = True) -> bytes:
    """The request body a client of `protocol` posts; `stream` adds `"stream": true`, and
    `store=False` adds a Responses request's `"store": false`."""
    body: dict[str, Any]
    if protocol == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
        body["max_tokens"] = 64
    elif protocol == "messages":
        body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}
    else:
        body = {"model": model, "input": PROMPT, "max_output_tokens": 64}
        if not store:
            body["store"] = False
    if stream:
        body["stream"] = True
    return _dumps(body).encode()


_TERMINAL = {"chat": "[DONE]", "messages": "message_stop", "responses": "response.completed"}


def markers(protocol: str, stream: bool) -> tuple[str, ...]:
    """Substrings every good response body holds (the wrk Lua hook checks these)."""
    return (END_MARKER, _TERMINAL[protocol]) if stream else (END_MARKER,)


def _sse_data(body: str) -> Iterator[str]:
    for frame in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in frame.split("\n") if line.startswith("data:")]
        if data:
            yield "\n".join(data)


def _stream_text(protocol: str, body: str) -> tuple[str, int, str]:
    """(text, chunk count, last event type) of a client-side stream."""
    parts: list[str] = []
    count = 0
    last = ""
    for data in _sse_data(body):
        count += 1
        if data == "[DONE]":
            # Terminal for Chat; the OpenAI SDK also tolerates it after a Responses stream.
            last = "[DONE]" if protocol != "responses" else last
            continue
        event = json.loads(data)
        last = event.get("type", "") if protocol != "chat" else "chunk"
        if protocol == "chat":
            for choice in event.get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
        elif protocol == "messages" and event.get("type") == "content_block_delta":
            parts.append(event["delta"].get("text", ""))
        elif protocol == "responses" and event.get("type") == "response.output_text.delta":
            parts.append(event["delta"])
    return "".join(parts), count, last


def _json_text(protocol: str, body: str) -> str:
    data = json.loads(body)
    if protocol == "chat":
        return str(data["choices"][0]["message"]["content"])
    if protocol == "messages":
        return "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
    return "".join(
        part.get("text", "")
        for item in data["output"]
        if item.get("type") == "message"
        for part in item["content"]
        if part.get("type") == "output_text"
    )


def check_response(protocol: str, stream: bool, status: int, body: str) -> str | None:
    """None when the body is a complete, correct reply; otherwise what is wrong with it."""
    if status != 200:
        return f"HTTP {status}: {body[:300]}"
    try:
        if not stream:
            text = _json_text(protocol, body)
        else:
            text, count, last = _stream_text(protocol, body)
            if count < len(REPLY_WORDS):
                return f"only {count} SSE events (want >= {len(REPLY_WORDS)}): {body[:300]}"
            if last != _TERMINAL[protocol] and protocol != "chat":
                return f"stream ends with {last!r}, not {_TERMINAL[protocol]!r}"
            if protocol == "chat" and last != "[DONE]":
                return "stream does not end with data: [DONE]"
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return f"unparseable body ({type(exc).__name__}: {exc}): {body[:300]}"
    if text != REPLY_TEXT:
        return f"reply text differs: {text[:120]!r}"
    return None
